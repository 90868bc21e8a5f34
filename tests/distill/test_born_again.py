"""Born-again generations are reproducible: each is initialized from its own seed."""

from __future__ import annotations

import torch

from edgekd.data.loaders import load_data
from edgekd.distill.born_again import born_again
from edgekd.distill.losses import KDLoss
from edgekd.models.zoo import build_model
from edgekd.train.config import TrainConfig
from tests.distill.test_api import _same, _teacher_logits, _weights


def test_born_again_generations_are_reproducible():
    digits = load_data()

    def build() -> torch.nn.Module:
        return build_model("cnn", digits.input_shape, digits.num_classes, 4, 1)

    cfg, loss, logits = TrainConfig(epochs=1), KDLoss(4.0, 0.5), _teacher_logits(digits)
    runs = []
    for noise in (1, 2):
        torch.manual_seed(noise)
        final, records = born_again(build, digits, logits, cfg, loss, generations=1)
        runs.append(_weights(final))
        assert [r["seed"] for r in records] == [0, 1]
    assert _same(runs[0], runs[1])
