"""Teachers from model sources: trained here when they have no classifier for the data,
used as loaded when they do, cached either way."""

from __future__ import annotations

import numpy as np
import pytest

from edgekd.cache import Cache
from edgekd.errors import RecipeError
from edgekd.models.config import TeacherConfig
from edgekd.progress import NullReporter
from edgekd.teacher.train import teacher_from_config
from tests.conftest import tiny_images
from tests.models.tiny_hf import vit_dir

FIT = {"epochs": 2, "batch_size": 16}


def test_a_torchvision_teacher_is_trained_once_then_cached(tmp_path):
    data, cache = tiny_images(), Cache(tmp_path / "cache")
    cfg = TeacherConfig(model="torchvision:mobilenet_v3_small", fit=FIT)
    teacher, hit, source = teacher_from_config(cfg, data, cache, NullReporter())
    assert (hit, source, teacher.info["trained"]) == (False, "torchvision", True)
    assert teacher.spec.label == "torchvision:mobilenet_v3_small"
    again, hit2, _ = teacher_from_config(cfg, data, cache, NullReporter())
    assert hit2 and again.identity == teacher.identity
    np.testing.assert_array_equal(again.predict(data.val.x), teacher.predict(data.val.x))


def test_an_hf_classifier_for_these_classes_is_used_as_loaded(tmp_path):
    data, cache = tiny_images(), Cache(tmp_path / "cache")
    vit = vit_dir(tmp_path / "vit", image_size=16, num_labels=3)
    teacher, hit, source = teacher_from_config(
        TeacherConfig(model=f"hf:{vit}"), data, cache, NullReporter()
    )
    assert source == "hf" and teacher.info["trained"] is False
    assert teacher.info["weights_from"] == f"hf:{vit}"
    # the same logits as the directory's model: nothing was trained
    import torch

    from edgekd.models.hf import import_transformers

    ref = import_transformers().ViTForImageClassification.from_pretrained(str(vit)).eval()
    with torch.no_grad():
        expected = ref(pixel_values=torch.from_numpy(data.val.x[:4])).logits.numpy()
    np.testing.assert_allclose(teacher.predict(data.val.x[:4]), expected, rtol=1e-5, atol=1e-5)
    # another class count: its head is new, so `train: false` is refused
    vit5 = vit_dir(tmp_path / "vit5", image_size=16, num_labels=5)
    with pytest.raises(RecipeError, match=r"teacher.train: false, but hf:.* head was re-init"):
        teacher_from_config(
            TeacherConfig(model=f"hf:{vit5}", train=False), data, cache, NullReporter()
        )


def test_train_false_without_weights_is_refused(tmp_path):
    cfg = TeacherConfig(model="torchvision:mobilenet_v3_small", train=False)
    with pytest.raises(RecipeError, match=r"teacher.train: false, but .* \(no weights\)"):
        teacher_from_config(cfg, tiny_images(), Cache(tmp_path), NullReporter())
