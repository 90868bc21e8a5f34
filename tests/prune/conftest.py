"""Shared fixtures: digits, a well-trained cnn student and cached teacher logits.

Both models are trained to convergence (student ~96%, teacher ~98% val on digits), so
quantization and pruning tests see margins that hold on any CPU: an under-trained fixture
(81% val after 6 epochs) made one machine's rounding decide whether int8 met its bar.
"""

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
    fit(teacher, digits.train, digits.val, TrainConfig(epochs=15, lr=1e-2))
    return predict(teacher, digits.train.x)


@pytest.fixture(scope="session")
def student(digits: DataSplits) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model("cnn", digits.input_shape, digits.num_classes, 8, 2)
    fit(model, digits.train, digits.val, TrainConfig(epochs=20, lr=1e-2))
    return model
