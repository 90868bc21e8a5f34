from __future__ import annotations

import pytest
import torch

from edgekd.distill.config import DistillConfig
from edgekd.errors import DataError, RecipeError
from edgekd.prune.api import prune
from edgekd.prune.config import PruneConfig
from edgekd.prune.unstructured import polynomial_schedule
from edgekd.recipe.load import validate
from edgekd.train.config import TrainConfig

FAST = TrainConfig(epochs=2, lr=1e-3)


def test_polynomial_schedule_matches_zhu_gupta():
    # s_t = s_f + (s_i - s_f)(1 - t/n)^3 with s_i=0, s_f=0.8, n=4
    assert polynomial_schedule(0.0, 0.8, 4) == pytest.approx([0.4625, 0.7, 0.7875, 0.8])
    assert polynomial_schedule(0.0, 0.5, 1) == [0.5]


def test_global_unstructured_reaches_target_and_shrinks_gzip(student, digits, teacher_logits):
    cfg = PruneConfig(method="unstructured", sparsity=0.75, steps=2, fine_tune=FAST)
    pruned, report = prune(student, cfg, digits, teacher_logits, DistillConfig())
    after = report["after"]
    assert after["sparsity"] == pytest.approx(0.75, abs=0.005)
    assert set(after["sparsity_per_layer"]) == {
        "features.block0.conv",
        "features.block1.conv",
        "classifier",
    }
    assert after["gzip_bytes"] < report["before"]["gzip_bytes"]
    assert after["params"] == report["before"]["params"]  # zeros are still stored densely
    assert "does not speed up dense kernels" in report["note"]
    # masks are permanent: plain weights, no reparametrization left for export
    keys = pruned.state_dict().keys()
    assert not any(k.endswith("weight_orig") or k.endswith("weight_mask") for k in keys)
    assert [s["step"] for s in report["schedule"]] == [1, 2]
    # the input model is left untouched
    assert float((student.features.block1.conv.weight == 0).float().mean()) < 0.01


def test_layer_scope_with_override(student, digits, teacher_logits):
    cfg = PruneConfig(
        method="unstructured",
        sparsity=0.5,
        scope="layer",
        layers={"classifier": 0.25},
        steps=1,
        fine_tune=TrainConfig(epochs=1, lr=1e-3),
    )
    pruned, report = prune(student, cfg, digits, teacher_logits, DistillConfig())
    per_layer = report["after"]["sparsity_per_layer"]
    assert per_layer["classifier"] == pytest.approx(0.25, abs=0.01)
    assert per_layer["features.block0.conv"] == pytest.approx(0.5, abs=0.02)
    assert per_layer["features.block1.conv"] == pytest.approx(0.5, abs=0.01)


def test_unknown_layer_override_names_it(student, digits, teacher_logits):
    cfg = PruneConfig(method="unstructured", layers={"features.nope": 0.5}, fine_tune=FAST)
    with pytest.raises(RecipeError, match="features.nope") as exc:
        prune(student, cfg, digits, teacher_logits, DistillConfig())
    assert exc.value.exit_code == 2


@pytest.mark.parametrize("value", [1.0, 1.5, -0.1])
def test_sparsity_outside_unit_interval_is_a_recipe_error(value):
    with pytest.raises(RecipeError, match=r"prune\.sparsity") as exc:
        validate({"prune": {"method": "unstructured", "sparsity": value}})
    assert exc.value.exit_code == 2
    assert "[0, 1)" in str(exc.value)


def test_layer_override_outside_unit_interval_names_layer():
    with pytest.raises(RecipeError, match="classifier"):
        validate({"prune": {"layers": {"classifier": 1.0}}})


def test_teacher_logits_of_wrong_shape(student, digits, teacher_logits):
    cfg = PruneConfig(method="unstructured", fine_tune=FAST)
    with pytest.raises(DataError, match="teacher logits have shape"):
        prune(student, cfg, digits, teacher_logits[:10], DistillConfig())


def test_method_none_returns_model_unchanged(student, digits, teacher_logits):
    model, report = prune(
        student, PruneConfig(method="none"), digits, teacher_logits, DistillConfig()
    )
    assert model is student and report["method"] == "none"
    assert isinstance(model, torch.nn.Module)
