"""Feature and relation methods address layers of any model source by module path: a timm
student learns from a torchvision teacher's hooked layers, and misspelt paths name close
matches among that model's layers."""

from __future__ import annotations

import numpy as np
import pytest

from edgekd.distill.config import DistillConfig
from edgekd.errors import RecipeError
from edgekd.models.config import StudentConfig, TeacherConfig
from edgekd.models.create import create_model
from edgekd.teacher.load import module_teacher
from tests.conftest import tiny_images


def test_fitnets_from_a_torchvision_teacher_into_a_timm_student(tmp_path):
    from edgekd.cache import Cache
    from edgekd.distill.api import distill

    data = tiny_images()
    made = create_model(TeacherConfig(model="torchvision:resnet18"), "teacher", (3, 16, 16), 3)
    teacher = module_teacher(made.model.eval())
    cfg = DistillConfig(
        method="fitnets",
        fitnets={"hints": [{"student": "blocks.2", "teacher": "layer2"}]},
        epochs=1,
        batch_size=16,
    )
    student = StudentConfig(model="timm:mobilenetv3_small_050")
    result = distill(data, teacher, student, cfg, cache=Cache(tmp_path))
    assert result.spec.label == "timm:mobilenetv3_small_050"
    assert result.info["pairs"] == [{"student": "blocks.2", "teacher": "layer2"}]
    assert result.info["adapter_params"] > 0  # 1x1 conv from the student's to the teacher's width
    assert np.isfinite(result.history.train_loss[0])
    hints = {"hints": [{"student": "blocks.2", "teacher": "layer5"}]}
    bad = DistillConfig.model_validate({**cfg.model_dump(), "fitnets": hints})
    with pytest.raises(RecipeError, match=r"no module named 'layer5' in the ResNet; did you mean"):
        distill(data, teacher, student, bad, cache=Cache(tmp_path))
