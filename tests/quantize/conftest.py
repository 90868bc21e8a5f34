"""Fixtures: the prune tests' digits/student/teacher logits, plus float ONNX files."""

from __future__ import annotations

import pytest
import torch

from edgekd.data.loaders import DataSplits
from edgekd.models.zoo import build_model
from edgekd.train.config import TrainConfig
from edgekd.train.loop import fit
from tests.prune.conftest import digits, student, teacher_logits  # noqa: F401


@pytest.fixture(scope="session")
def float_onnx(tmp_path_factory: pytest.TempPathFactory, student, digits: DataSplits):  # noqa: F811
    from edgekd.export.onnx_export import export_onnx

    return export_onnx(student, digits.val.x[:2], tmp_path_factory.mktemp("onnx") / "cnn.onnx").path


@pytest.fixture(scope="session")
def mlp_onnx(tmp_path_factory: pytest.TempPathFactory, digits: DataSplits):  # noqa: F811
    from edgekd.export.onnx_export import export_onnx

    torch.manual_seed(0)
    model = build_model("mlp", digits.input_shape, digits.num_classes, 16, 1)
    fit(model, digits.train, digits.val, TrainConfig(epochs=15, lr=1e-2))
    return export_onnx(model, digits.val.x[:2], tmp_path_factory.mktemp("onnx") / "mlp.onnx").path
