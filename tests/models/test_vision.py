"""torchvision and timm classifiers adapted to the data; the torchvision import workaround;
pretrained weights only from the local cache."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from edgekd.errors import RecipeError
from edgekd.models.config import StudentConfig, TeacherConfig
from edgekd.models.create import create_model

IMPORT_CHECK = """
import importlib.util, json, pathlib, torch
folder = pathlib.Path(list(importlib.util.find_spec("torchvision").submodule_search_locations)[0])
try:
    torch.ops.load_library(str(next(folder.glob("_C*.so"))))
    loadable = True
except OSError:
    loadable = False
from edgekd import backends
from edgekd.models import vision
tv = vision.import_torchvision()
import timm
out = tv.models.resnet18(num_classes=3).eval()(torch.zeros(1, 3, 32, 32))
print(json.dumps([loadable, bool(backends._OPS_SHIM), list(out.shape), timm.is_model("resnet18")]))
"""


def test_torchvision_imports_and_the_shim_is_used_only_when_its_ops_cannot_load():
    r = subprocess.run([sys.executable, "-c", IMPORT_CHECK], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    loadable, shim, shape, timm_ok = json.loads(r.stdout.strip().splitlines()[-1])
    # a matching torchvision build loads its ops and gets no shim; a mismatched one the shim
    assert shim is (not loadable)
    assert shape == [1, 3] and timm_ok


@pytest.mark.parametrize(
    "model, shape",
    [
        ("torchvision:mobilenet_v3_small", (3, 16, 16)),
        ("torchvision:mobilenet_v3_small", (1, 16, 16)),
        ("timm:mobilenetv3_small_050", (1, 16, 16)),
    ],
)
def test_classes_and_input_channels_follow_the_data(model, shape):
    made = create_model(StudentConfig(model=model), "student", shape, 5)
    assert made.model(torch.randn(3, *shape)).shape == (3, 5)
    first = next(m for m in made.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.in_channels == shape[0]
    assert made.spec.label == model and made.spec.input_shape == shape
    assert not made.trained_head  # random weights: a teacher of this kind gets trained


@pytest.mark.parametrize(
    "model, close",
    [
        ("torchvision:mobilenet_v3_smal", "mobilenet_v3_small"),
        ("timm:mobilenetv3_small_05", "mobilenetv3_small_050"),
    ],
)
def test_unknown_names_list_close_matches(model, close):
    with pytest.raises(RecipeError, match=rf"student.model: unknown \w+ model .*{close}"):
        create_model(StudentConfig(model=model), "student", (3, 16, 16), 5)


def test_a_model_that_cannot_take_the_input_size_is_a_bad_input():
    with pytest.raises(RecipeError, match=r"teacher.model: torchvision:squeezenet1_0 does not run"):
        create_model(TeacherConfig(model="torchvision:squeezenet1_0"), "teacher", (3, 8, 8), 5)


def test_pretrained_reads_only_the_local_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cfg = StudentConfig(model="torchvision:mobilenet_v3_small", pretrained=True)
    with pytest.raises(RecipeError, match="not in the local cache .*never downloads"):
        create_model(cfg, "student", (3, 16, 16), 5)
    # the file torchvision would have downloaded, placed in its cache by hand
    from edgekd.models.vision import import_torchvision

    tv = import_torchvision()
    url = tv.models.get_model_weights("mobilenet_v3_small").DEFAULT.url
    cached = tmp_path / "torch" / "hub" / "checkpoints" / url.rsplit("/", 1)[1]
    cached.parent.mkdir(parents=True)
    imagenet = tv.models.mobilenet_v3_small()  # 1000 classes, 3 channels
    torch.save(imagenet.state_dict(), cached)
    made = create_model(cfg, "student", (1, 16, 16), 5)
    assert made.info["weights_from"] == "torchvision cache" and made.info["input_adapted"]
    assert [r.split()[0] for r in made.info["head_reset"]] == [
        "classifier.3.weight",
        "classifier.3.bias",
    ]
    block = "features.1.block.0.0.weight"
    assert torch.equal(made.model.state_dict()[block], imagenet.state_dict()[block])
    rgb = imagenet.state_dict()["features.0.0.weight"]
    assert torch.allclose(made.model.state_dict()["features.0.0.weight"], rgb.sum(1, keepdim=True))


def test_timm_pretrained_without_a_cache_is_refused_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cfg = StudentConfig(model="timm:mobilenetv3_small_050", pretrained=True)
    with pytest.raises(RecipeError, match="student.pretrained: timm's .* never downloads"):
        create_model(cfg, "student", (3, 16, 16), 5)
