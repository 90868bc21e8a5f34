"""A zoo teacher trained by edgekd is reproducible: one seed, one set of weights."""

from __future__ import annotations

import torch

from edgekd.cache import Cache
from edgekd.data.loaders import load_data
from edgekd.models.config import TeacherConfig
from edgekd.teacher.train import train_or_load_teacher
from edgekd.train.config import TrainConfig


def test_teacher_training_with_one_seed_gives_identical_weights(tmp_path):
    data = load_data()
    weights = []
    for i, (seed, noise) in enumerate([(0, 1), (0, 2), (1, 1)]):
        torch.manual_seed(noise)  # whatever used the global generator before must not matter
        torch.rand(noise)
        cfg = TeacherConfig(width=4, depth=1, fit=TrainConfig(epochs=1, seed=seed))
        teacher, hit, trained = train_or_load_teacher(cfg, data, Cache(tmp_path / str(i)))
        assert hit is False and trained  # each run has its own cache: trained, never loaded
        assert isinstance(teacher.module, torch.nn.Module)
        weights.append({k: v.clone() for k, v in teacher.module.state_dict().items()})
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not all(torch.equal(weights[0][k], weights[2][k]) for k in weights[0])
