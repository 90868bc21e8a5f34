"""Every teacher source loads, and every bad teacher file gets exit-2 errors naming it."""

from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from edgekd.data.config import DataConfig
from edgekd.data.loaders import load_data
from edgekd.errors import ModelFileError, UsageError
from edgekd.export.onnx_export import export_onnx
from edgekd.models.config import TeacherConfig
from edgekd.models.zoo import build_model
from edgekd.teacher.load import load_teacher_file


@pytest.fixture(scope="module")
def digits():
    return load_data(DataConfig())


@pytest.fixture(scope="module")
def net(digits):
    torch.manual_seed(0)
    return build_model("cnn", digits.input_shape, 10, 4, 2).eval()


def cfg(path: Path, **kw) -> TeacherConfig:
    return TeacherConfig(path=path, arch="cnn", width=4, depth=2, input="normalized", **kw)


def test_every_torch_and_onnx_source_gives_the_same_logits(tmp_path, digits, net):
    x = digits.val.x[:5]
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    save_file(
        {k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "t.safetensors")
    )
    torch.jit.save(torch.jit.trace(net, torch.from_numpy(x)), str(tmp_path / "t.pt"))
    torch.export.save(torch.export.export(net, (torch.from_numpy(x),)), str(tmp_path / "t.pt2"))
    export_onnx(net, x[:1], tmp_path / "t.onnx")
    for name, kind in [
        ("t.safetensors", "safetensors"),
        ("t.pt", "torchscript"),
        ("t.onnx", "onnx"),
    ]:
        t = load_teacher_file(cfg(tmp_path / name), digits)
        assert t.kind == kind
        np.testing.assert_allclose(t.predict(x), ref, atol=1e-4)
    t = load_teacher_file(cfg(tmp_path / "t.pt2"), digits)
    np.testing.assert_allclose(t.predict(x), ref, atol=1e-4)  # exported with batch 5
    assert t.identity != load_teacher_file(cfg(tmp_path / "t.onnx"), digits).identity


def test_sklearn_teacher_from_skops_on_raw_features(tmp_path, digits):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    raw = digits.train.x * np.asarray(digits.preprocess["std"]) + np.asarray(
        digits.preprocess["mean"]
    )
    est = LogisticRegression(max_iter=300).fit(raw.reshape(len(raw), -1), digits.train.y)
    sio.dump(est, tmp_path / "t.skops")
    t = load_teacher_file(TeacherConfig(path=tmp_path / "t.skops"), digits)  # input: raw (default)
    acc = float(np.mean(t.predict(digits.test.x).argmax(1) == digits.test.y))
    assert acc > 0.9


def test_pickle_teacher_needs_trust(tmp_path, digits):
    from sklearn.dummy import DummyClassifier

    joblib.dump(DummyClassifier().fit(np.zeros((10, 64)), np.arange(10)), tmp_path / "t.joblib")
    with pytest.raises(UsageError, match=r"is a pickle .*teacher.trust: true") as e:
        load_teacher_file(TeacherConfig(path=tmp_path / "t.joblib"), digits)
    assert e.value.exit_code == 2
    t = load_teacher_file(TeacherConfig(path=tmp_path / "t.joblib", trust=True), digits)
    assert t.predict(digits.test.x[:3]).shape == (3, 10)


def test_class_count_mismatch_is_named(tmp_path, digits):
    other = build_model("cnn", digits.input_shape, 3, 4, 2).eval()
    export_onnx(other, digits.val.x[:1], tmp_path / "three.onnx")
    with pytest.raises(ModelFileError, match="outputs 3 classes but the data has 10"):
        load_teacher_file(cfg(tmp_path / "three.onnx"), digits)


@pytest.mark.parametrize("suffix", [".onnx", ".safetensors", ".pt"])
@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_or_truncated_teacher_files(tmp_path, digits, net, suffix, damage):
    path = tmp_path / f"t{suffix}"
    if suffix == ".onnx":
        export_onnx(net, digits.val.x[:1], path)
    elif suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    else:
        torch.jit.save(torch.jit.trace(net, torch.from_numpy(digits.val.x[:2])), str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"\x00garbage" * 50)
    with pytest.raises(ModelFileError) as e:
        load_teacher_file(cfg(path), digits)
    assert str(path) in str(e.value) and e.value.exit_code == 2


def test_missing_teacher_file(tmp_path, digits):
    with pytest.raises(ModelFileError, match="teacher.path: file not found"):
        load_teacher_file(cfg(tmp_path / "nope.onnx"), digits)


def test_safetensors_with_the_wrong_arch_is_explained(tmp_path, digits, net):
    save_file(
        {k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "t.safetensors")
    )
    wrong = TeacherConfig(
        path=tmp_path / "t.safetensors", arch="cnn", width=16, depth=2, input="normalized"
    )
    with pytest.raises(ModelFileError, match="does not match zoo arch 'cnn' width=16"):
        load_teacher_file(wrong, digits)


def test_torch_saved_state_dict_teacher_loads_with_its_arch(tmp_path, digits, net):
    with torch.no_grad():
        ref = net(torch.from_numpy(digits.val.x[:5])).numpy()
    for name in ("t.pt", "t.pth", "named-like-an-export.pt2"):  # told apart by content
        torch.save(net.state_dict(), tmp_path / name)
        t = load_teacher_file(cfg(tmp_path / name), digits)
        assert t.kind == "state_dict"
        np.testing.assert_allclose(t.predict(digits.val.x[:5]), ref, atol=1e-5)


def test_state_dict_pt_teacher_is_not_called_corrupt_torchscript(tmp_path, cli, net):
    """Through the real CLI: a torch.save'd state dict whose arch differs from teacher.* is
    named for what it is, with the keys to set (it used to be 'corrupted TorchScript')."""
    torch.save(net.state_dict(), tmp_path / "t.pt")  # cnn width 4 depth 2
    sets = ["teacher.train=false", f"teacher.path={tmp_path / 't.pt'}", "teacher.input=normalized"]
    args = ["compress", "--out", str(tmp_path / "runs"), "--quiet"]
    r = cli(*args, *[a for s in sets for a in ("--set", s)])
    assert r.exit_code == 2, r.stderr
    assert "t.pt (a torch.save'd state dict): does not match zoo arch 'cnn' width=32" in r.stderr
    assert "set teacher.arch/width/depth" in r.stderr and "TorchScript" not in r.stderr
    torch.save(net, tmp_path / "t.pt")  # a whole pickled module: never unpickled
    r = cli(*args, *[a for s in sets for a in ("--set", s)])
    assert r.exit_code == 2 and "save model.state_dict() instead" in r.stderr, r.stderr
