"""Every bad model input of a recipe exits 2 through the real CLI, with one message that
names the field and what was expected (no traceback)."""

from __future__ import annotations

import pytest
import torch
import yaml

from tests.conftest import run_cli
from tests.models.tiny_hf import vit_dir

TINY = {
    "data": {"source": "digits"},
    "teacher": {"arch": "cnn", "width": 4, "depth": 1, "fit": {"epochs": 1}},
    "distill": {"epochs": 1, "baseline": False},
    "prune": {"method": "none"},
    "quantize": {"method": "none"},
    "export": {"formats": ["onnx"]},
    "targets": {"names": []},
}


def run(tmp_path, **sections) -> tuple[int, str]:
    recipe = {**TINY, **sections, "output": {"dir": str(tmp_path / "runs")}}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return run_cli(["compress", str(path), "--quiet"])


@pytest.mark.parametrize(
    "student, expected",
    [
        (
            {"model": "torchvision:mobilenet_v3_smal"},
            "student.model: unknown torchvision model 'mobilenet_v3_smal'; close matches: "
            "mobilenet_v3_small",
        ),
        (
            {"model": "timm:mobilenetv3_small_05"},
            "student.model: unknown timm model 'mobilenetv3_small_05'; close matches: ",
        ),
        ({"model": "resnet18"}, "student.model: 'resnet18': expected SOURCE:NAME"),
        ({"arch": "cnn", "pretrained": True}, "student.pretrained: the zoo has no pretrained"),
        ({"model": "module:net.py:build"}, "set trust_code: true in this section"),
        ({"model": "hf:no-config"}, "student.model: hf:"),
    ],
)
def test_bad_model_names_stop_before_any_work(tmp_path, student, expected):
    (tmp_path / "no-config").mkdir()
    code, out = run(tmp_path, student=student)
    assert code == 2, out
    assert expected in out and "Traceback" not in out
    assert not (tmp_path / "runs").exists()  # refused before a run directory was made


def test_weights_that_do_not_fit_name_the_keys(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, path)
    code, out = run(
        tmp_path, student={"model": "torchvision:mobilenet_v3_small", "weights": str(path)}
    )
    assert code == 2, out
    assert f"student.weights: {path}: keys do not match the architecture" in out
    assert "missing features.0.0.weight" in out and "unexpected fc.weight" in out


def test_init_from_teacher_outside_the_teacher_layers(tmp_path):
    vit = vit_dir(tmp_path / "vit", image_size=8, num_labels=10, layers=2, channels=1)
    code, out = run(
        tmp_path,
        teacher={"model": f"hf:{vit}"},
        student={"init_from_teacher": {"layers": [0, 2]}},
    )
    assert code == 2, out
    assert "student.init_from_teacher.layers: layer 2 is outside the teacher's 2 layers" in out
