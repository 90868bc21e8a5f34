"""Relation-based losses: RKD distance and angle, similarity-preserving."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from edgekd.distill.relation_losses import (
    RKDAngleLoss,
    RKDDistanceLoss,
    RKDLoss,
    SimilarityPreservingLoss,
)


@pytest.fixture
def emb():
    g = torch.Generator().manual_seed(0)
    torch.randn(4, 3, 4, 4, generator=g), torch.randn(4, 5, 2, 2, generator=g)  # advance
    return torch.randn(6, 3, generator=g), torch.randn(6, 7, generator=g)


def test_rkd_distance_golden_and_matches_formula(emb):
    s, t = emb
    value = RKDDistanceLoss()(s, t)
    off = ~torch.eye(6, dtype=torch.bool)
    ds, dt = torch.cdist(s, s)[off], torch.cdist(t, t)[off]
    ref = F.smooth_l1_loss(ds / ds.mean(), dt / dt.mean())
    assert torch.allclose(value, ref, atol=1e-6)
    assert float(value) == pytest.approx(0.0912390, abs=2e-6)  # golden, seed 0


def test_rkd_angle_golden_and_matches_formula(emb):
    s, t = emb
    value = RKDAngleLoss()(s, t)

    def cosines(e):
        out = []
        for i, j, k in itertools.product(range(6), repeat=3):
            a, b = e[i] - e[j], e[k] - e[j]
            na, nb = a.norm(), b.norm()
            out.append(0.0 if na == 0 or nb == 0 else float(a @ b / (na * nb)))
        return torch.tensor(out)

    assert torch.allclose(value, F.smooth_l1_loss(cosines(s), cosines(t)), atol=1e-6)
    assert float(value) == pytest.approx(0.0839451, abs=2e-6)  # golden, seed 0
    assert float(RKDLoss()(s, t)) == pytest.approx(25 * 0.0912390 + 50 * 0.0839451, abs=1e-4)


def test_rkd_is_invariant_to_scale_and_translation(emb):
    s, _ = emb
    assert float(RKDLoss()(s, 5 * s + 2)) == pytest.approx(0.0, abs=1e-5)


def test_sp_golden_and_matches_formula():
    g = torch.Generator().manual_seed(0)
    fs, ft = torch.randn(4, 3, 4, 4, generator=g), torch.randn(4, 5, 2, 2, generator=g)
    value = SimilarityPreservingLoss()(fs, ft)
    gs = F.normalize(fs.flatten(1) @ fs.flatten(1).t(), dim=1)
    gt = F.normalize(ft.flatten(1) @ ft.flatten(1).t(), dim=1)
    assert torch.allclose(value, ((gs - gt) ** 2).sum() / 16)
    assert float(value) == pytest.approx(0.0194318, abs=2e-7)  # golden, seed 0
    assert float(SimilarityPreservingLoss()(fs, 2 * fs)) == pytest.approx(0.0, abs=1e-7)


def test_relation_losses_give_gradients_to_the_student_only(emb):
    s, t = emb
    s, t = s.clone().requires_grad_(True), t.clone().requires_grad_(True)
    (RKDLoss()(s, t) + SimilarityPreservingLoss()(s, t)).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
