from __future__ import annotations

import numpy as np
import onnx
import pytest

from edgekd.distill.config import DistillConfig
from edgekd.errors import RecipeError
from edgekd.export.onnx_export import export_onnx
from edgekd.models.zoo import build_model
from edgekd.prune.api import prune
from edgekd.prune.config import PruneConfig
from edgekd.runtime.onnx import OnnxRunner
from edgekd.train.config import TrainConfig
from edgekd.train.loop import fit, predict

FAST = TrainConfig(epochs=2, lr=1e-3)


def onnx_weight_count(path) -> int:
    return sum(int(np.prod(t.dims)) for t in onnx.load(str(path)).graph.initializer)


def test_structured_really_shrinks_params_macs_and_onnx(student, digits, teacher_logits, tmp_path):
    cfg = PruneConfig(method="structured", sparsity=0.5, scope="layer", steps=2, fine_tune=FAST)
    pruned, report = prune(student, cfg, digits, teacher_logits, DistillConfig())
    before, after = report["before"], report["after"]
    # golden channel counts: int(c * (1 - 0.5)) kept, the classifier's outputs untouched
    assert after["channels"] == {
        "features.block0.conv": 4,
        "features.block1.conv": 8,
        "classifier": 10,
    }
    assert after["params"] < 0.5 * before["params"]
    assert report["macs_ratio"] <= 0.5
    dense = export_onnx(student, digits.val.x[:2], tmp_path / "dense.onnx").path
    small = export_onnx(pruned, digits.val.x[:2], tmp_path / "pruned.onnx").path
    assert onnx_weight_count(small) < 0.5 * onnx_weight_count(dense)
    logits = OnnxRunner(small).predict(digits.val.x[:5])
    np.testing.assert_allclose(logits, predict(pruned, digits.val.x[:5]), atol=1e-4)


def test_global_scope_ranks_across_layers(student, digits, teacher_logits):
    cfg = PruneConfig(method="structured", sparsity=0.5, steps=1, fine_tune=FAST)
    _, report = prune(student, cfg, digits, teacher_logits, DistillConfig())
    channels = report["after"]["channels"]
    assert channels["features.block0.conv"] + channels["features.block1.conv"] == 12
    assert report["macs_ratio"] < 1.0


def test_taylor_importance_and_layer_scope(student, digits, teacher_logits):
    cfg = PruneConfig(
        method="structured",
        sparsity=0.25,
        scope="layer",
        importance="taylor",
        steps=1,
        fine_tune=TrainConfig(epochs=1, lr=1e-3),
    )
    _, report = prune(student, cfg, digits, teacher_logits, DistillConfig())
    assert report["after"]["channels"]["features.block1.conv"] == 12


def test_per_layer_ratio(student, digits, teacher_logits):
    cfg = PruneConfig(
        method="structured",
        sparsity=0.0,
        scope="layer",
        layers={"features.block1.conv": 0.5},
        steps=1,
        fine_tune=TrainConfig(epochs=1, lr=1e-3),
    )
    _, report = prune(student, cfg, digits, teacher_logits, DistillConfig())
    assert report["after"]["channels"]["features.block0.conv"] == 8
    assert report["after"]["channels"]["features.block1.conv"] == 8


def test_structured_mlp_with_batchnorm1d(digits, teacher_logits):
    model = build_model("mlp", digits.input_shape, digits.num_classes, 16, 2)
    fit(model, digits.train, digits.val, TrainConfig(epochs=1))
    cfg = PruneConfig(method="structured", sparsity=0.5, steps=1, fine_tune=FAST)
    pruned, report = prune(model, cfg, digits, teacher_logits, DistillConfig())
    assert report["after"]["channels"]["features.block0.fc"] == 8
    assert predict(pruned, digits.val.x[:3]).shape == (3, 10)


def test_ratio_that_deletes_a_layer_names_it(student, digits, teacher_logits):
    # block0 has 8 channels: 0.9 keeps int(8 * 0.1) = 0 of them
    cfg = PruneConfig(
        method="structured", layers={"features.block0.conv": 0.9}, fine_tune=FAST, scope="layer"
    )
    with pytest.raises(RecipeError, match=r"prune\.layers\.features\.block0\.conv=0\.9") as exc:
        prune(student, cfg, digits, teacher_logits, DistillConfig())
    assert "'features.block0.conv'" in str(exc.value) and "8 channels" in str(exc.value)
    assert exc.value.exit_code == 2
    with pytest.raises(RecipeError, match=r"prune\.sparsity=0\.95.*features\.block0\.conv"):
        cfg = PruneConfig(method="structured", sparsity=0.95, fine_tune=FAST)
        prune(student, cfg, digits, teacher_logits, DistillConfig())
