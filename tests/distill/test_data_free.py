"""DeepInversion: synthesis from a teacher's BatchNorm statistics, and teachers without BN."""

from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgekd.distill.config import DataFreeConfig
from edgekd.distill.data_free import BNStatistics, batchnorm_layers, deep_inversion
from edgekd.errors import UsageError
from edgekd.models.zoo import build_model


def _bn_teacher():
    """A BN teacher trained on three Gaussian blobs, so every class has a region to reach.

    An untrained random teacher can make a class (almost) unreachable: whether every target
    was hit then depended on the seed and on one machine's rounding (0.67-1.0 across seeds).
    """
    torch.manual_seed(0)
    model = build_model("mlp", (6,), 3, 8, 1)
    centers = torch.eye(3, 6) * 4 + 1
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    model.train()  # also gives the BN layer non-trivial running statistics
    for _ in range(100):
        y = torch.randint(0, 3, (48,))
        loss = F.cross_entropy(model(centers[y] + torch.randn(48, 6)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def test_bn_statistics_term_is_zero_on_matching_batch_statistics():
    bn = nn.BatchNorm1d(3)
    bn.running_mean.fill_(1.0)
    bn.running_var.fill_(4.0)
    stats = BNStatistics([bn])
    bn.eval()
    x = torch.tensor([[-1.0, -1.0, -1.0], [3.0, 3.0, 3.0]])  # mean 1, var 4 per feature
    bn(x)
    assert float(stats.take()) == pytest.approx(0.0, abs=1e-6)
    bn(x + 1)
    assert float(stats.take()) == pytest.approx(3**0.5, abs=1e-5)  # ||(1,1,1)||
    stats.remove()


def test_deep_inversion_reaches_class_targets_and_matches_bn_statistics():
    teacher = _bn_teacher()
    cfg = DataFreeConfig(samples=24, batch_size=12, steps=150, lr=0.1, bn_weight=0.0)
    x, y, info = deep_inversion(teacher, (6,), 3, cfg, seed=0)
    assert x.shape == (24, 6) and x.dtype == np.float32
    assert list(np.bincount(y)) == [8, 8, 8]
    assert info["target_accuracy"] == 1.0
    assert all(p.requires_grad for p in teacher.parameters())  # restored

    def bn_gap(inputs):
        stats = BNStatistics(batchnorm_layers(teacher))
        with torch.no_grad():
            teacher(torch.from_numpy(inputs))
        value = float(stats.take())
        stats.remove()
        return value

    noise = np.random.default_rng(0).normal(size=(24, 6)).astype(np.float32)
    matched, _, _ = deep_inversion(teacher, (6,), 3, cfg.model_copy(update={"bn_weight": 1.0}))
    assert bn_gap(matched) < 0.5 * bn_gap(noise)


def test_teacher_without_batchnorm_is_a_clear_error_or_named_fallback():
    torch.manual_seed(0)
    plain = nn.Sequential(OrderedDict(fc=nn.Linear(6, 3)))
    assert batchnorm_layers(plain) == []
    with pytest.raises(UsageError, match="no BatchNorm layers") as exc:
        deep_inversion(plain, (6,), 3, DataFreeConfig(samples=4, steps=1))
    assert exc.value.exit_code == 2
    assert "without_bn: targets_only" in str(exc.value)
    cfg = DataFreeConfig(samples=6, batch_size=6, steps=30, without_bn="targets_only")
    x, _, info = deep_inversion(plain, (6,), 3, cfg)
    assert info["bn_layers"] == 0 and x.shape == (6, 6)
