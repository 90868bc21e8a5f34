"""Weights from local files: key-by-key checks, repaired heads and input convolutions, and
only ``weights_only`` torch loading."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from edgekd.errors import ModelFileError
from edgekd.models.config import StudentConfig
from edgekd.models.create import create_model
from edgekd.models.weights import load_state, read_state_dict

MODEL = "torchvision:mobilenet_v3_small"


@pytest.fixture(scope="module")
def imagenet_like():
    """A 1000-class RGB mobilenet_v3_small state dict, as a user's downloaded file holds."""
    from edgekd.models.vision import import_torchvision

    torch.manual_seed(0)
    return import_torchvision().models.mobilenet_v3_small().state_dict()


def test_pth_and_safetensors_load_with_head_and_channels_repaired(imagenet_like, tmp_path):
    pth = tmp_path / "mnv3.pth"
    torch.save({"epoch": 3, "state_dict": imagenet_like}, pth)  # a training checkpoint
    st = tmp_path / "mnv3.safetensors"
    save_file({f"module.{k}": v.contiguous() for k, v in imagenet_like.items()}, str(st))
    for path in (pth, st):
        made = create_model(StudentConfig(model=MODEL, weights=path), "student", (1, 16, 16), 7)
        state = made.model.state_dict()
        assert made.info["weights_from"] == str(path) and made.info["input_adapted"]
        assert len(made.info["head_reset"]) == 2
        key = "features.3.block.1.0.weight"
        assert torch.equal(state[key], imagenet_like[key])
        assert state["classifier.3.weight"].shape == (7, 1024)


def test_keys_that_do_not_match_name_the_first_ones(imagenet_like, tmp_path):
    path = tmp_path / "resnet.pth"
    from edgekd.models.vision import import_torchvision

    torch.save(import_torchvision().models.resnet18().state_dict(), path)
    with pytest.raises(ModelFileError) as err:
        create_model(StudentConfig(model=MODEL, weights=path), "student", (3, 16, 16), 7)
    msg = str(err.value)
    assert msg.startswith(f"student.weights: {path}: keys do not match the architecture")
    assert "missing features.0.0.weight" in msg and "unexpected conv1.weight" in msg
    assert "in all" in msg  # the first few are named, then the count


def test_a_mismatched_inner_shape_is_refused_with_both_shapes(imagenet_like):
    model = create_model(StudentConfig(model=MODEL), "student", (3, 16, 16), 7).model
    bad = dict(imagenet_like)
    bad["features.3.block.1.0.weight"] = torch.zeros(1, 1, 3, 3)
    with pytest.raises(ModelFileError, match=r"features.3.block.1.0.weight \(1, 1, 3, 3\) in the"):
        load_state(model, bad, 7, "student.weights: x.pth")


def test_a_pickled_model_is_not_unpickled(tmp_path):
    path = tmp_path / "whole.pth"
    torch.save(torch.nn.Sequential(torch.nn.Linear(2, 2)), path)  # the module, not a state dict
    with pytest.raises(ModelFileError, match="weights_only=True"):
        read_state_dict(path, "teacher.weights")
    other = tmp_path / "w.npz"
    other.write_bytes(b"x")
    with pytest.raises(ModelFileError, match="expected a .safetensors file or a torch state dict"):
        read_state_dict(other, "teacher.weights")
    with pytest.raises(ModelFileError, match="teacher.weights: file not found"):
        read_state_dict(tmp_path / "nope.pth", "teacher.weights")
