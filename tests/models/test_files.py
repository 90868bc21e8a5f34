"""What a torch file holds is told from its content, and a state dict is never mistaken for a
corrupt TorchScript file."""

from __future__ import annotations

import pytest
import torch

from edgekd.errors import ModelFileError
from edgekd.models.files import load_zoo_weights, read_state_dict, torch_file_kind
from edgekd.models.zoo import build_model


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("torchfiles")
    torch.manual_seed(0)
    net = build_model("cnn", (1, 8, 8), 10, 4, 2).eval()
    x = torch.zeros(2, 1, 8, 8)
    torch.save(net.state_dict(), root / "sd.pt")
    torch.save(net.state_dict(), root / "legacy.pth", _use_new_zipfile_serialization=False)
    torch.save({"model": net.state_dict(), "epoch": 3}, root / "ckpt.pt")
    torch.save(net, root / "whole.pt")
    torch.jit.save(torch.jit.trace(net, x), str(root / "ts.pt"))
    torch.export.save(torch.export.export(net, (x,)), str(root / "ep.pt2"))
    (root / "junk.pt").write_bytes((root / "sd.pt").read_bytes()[:200])
    return root, net


def test_torch_file_kind_by_content(files):
    root, _ = files
    kinds = {p: torch_file_kind(root / p) for p in ("sd.pt", "legacy.pth", "ckpt.pt")}
    assert set(kinds.values()) == {"pickle"}
    assert torch_file_kind(root / "ts.pt") == "torchscript"
    assert torch_file_kind(root / "ep.pt2") == "exported"
    assert torch_file_kind(root / "junk.pt") == "unknown"


def test_state_dicts_load_and_everything_else_says_what_it_is(files):
    root, net = files
    for name in ("sd.pt", "legacy.pth"):
        model = load_zoo_weights(root / name, "cnn", (1, 8, 8), 10, 4, 2)
        for k, v in net.state_dict().items():
            assert torch.equal(model.state_dict()[k], v)
    for name, expected in [
        ("ckpt.pt", r"a torch.save'd dict that is not a state dict of tensors \(model, epoch\)"),
        ("whole.pt", r"not plain tensors \(a whole nn.Module .* save model.state_dict\(\)"),
        ("ts.pt", r"a TorchScript model \(torch.jit.save\), not a state dict"),
        ("junk.pt", r"not a TorchScript, torch.export or torch.save file"),
    ]:
        with pytest.raises(ModelFileError, match=expected):
            read_state_dict(root / name)
    with pytest.raises(
        ModelFileError, match=r"sd.pt \(a torch.save'd state dict\): does not match"
    ):
        load_zoo_weights(root / "sd.pt", "cnn", (1, 8, 8), 10, 8, 2)


def test_zip_with_a_mangled_version_field_is_unknown_not_a_crash(files, tmp_path):
    """Found by fuzzing: zipfile raises NotImplementedError ("zip file version 23.2") for a
    central directory entry whose version-needed field is out of range; that was exit 1."""
    root, _ = files
    data = bytearray((root / "sd.pt").read_bytes())
    entry = data.index(b"PK\x01\x02")  # first central directory header
    data[entry + 6 : entry + 8] = (232).to_bytes(2, "little")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(bytes(data))
    assert torch_file_kind(bad) == "unknown"
    with pytest.raises(ModelFileError, match="not a TorchScript, torch.export or torch.save file"):
        read_state_dict(bad)
