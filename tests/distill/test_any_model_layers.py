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


def test_feature_methods_read_an_image_folder_batch_by_batch(tmp_path):
    """FitNets on an image folder: the teacher's hooked features are filled from the split's
    batches (no array of the whole split) and equal a direct run of the teacher on them."""
    import torch

    from edgekd.cache import Cache
    from edgekd.data.config import DataConfig
    from edgekd.data.dataset import gather
    from edgekd.data.loaders import load_data
    from edgekd.distill.api import distill
    from edgekd.distill.feature_kd import teacher_features
    from edgekd.distill.hooks import FeatureHooks
    from tests.data.fixtures import image_folder

    folder = image_folder(tmp_path / "imgs", per_class=8)
    data = load_data(
        DataConfig(
            source="imagefolder", path=folder, calib_samples=4, image={"size": 16, "augment": True}
        )
    )
    assert data.train.dense is None  # streamed: decoded per batch
    made = create_model(TeacherConfig(model="torchvision:resnet18"), "teacher", (3, 16, 16), 3)
    teacher = module_teacher(made.model.eval())
    feats, _ = teacher_features(teacher, data, ["layer2"], Cache(tmp_path / "c1"), batch_size=5)
    with FeatureHooks(made.model, ["layer2"], "teacher layer") as hooks, torch.no_grad():
        made.model(torch.from_numpy(np.asarray(gather(data.train))))
        direct = hooks.features["layer2"].numpy()
    assert np.allclose(feats["layer2"], direct, atol=1e-5)
    cfg = DistillConfig(
        method="fitnets",
        fitnets={"hints": [{"student": "blocks.2", "teacher": "layer2"}]},
        epochs=1,
        batch_size=8,
    )
    student = StudentConfig(model="timm:mobilenetv3_small_050")
    result = distill(data, teacher, student, cfg, cache=Cache(tmp_path / "c2"))
    assert np.isfinite(result.history.train_loss[0])
