"""Shared fixtures: digits, a briefly trained cnn student and cached teacher logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgekd.data.loaders import DataSplits, load_data
from edgekd.models.zoo import build_model
from edgekd.train.config import TrainConfig
from edgekd.train.loop import fit, predict

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits() -> DataSplits:
    return load_data()


@pytest.fixture(scope="session")
def teacher_logits(digits: DataSplits) -> np.ndarray:
    torch.manual_seed(1)
    teacher = build_model("cnn", digits.input_shape, digits.num_classes, 16, 2)
    fit(teacher, digits.train, digits.val, TrainConfig(epochs=6, lr=5e-3))
    return predict(teacher, digits.train.x)


@pytest.fixture(scope="session")
def student(digits: DataSplits) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model("cnn", digits.input_shape, digits.num_classes, 8, 2)
    fit(model, digits.train, digits.val, TrainConfig(epochs=6, lr=5e-3))
    return model
