import pytest
import torch
import torch.nn.functional as F

from edgekd.distill.losses import KDLoss, divergence


@pytest.fixture
def logits():
    g = torch.Generator().manual_seed(0)
    return (
        torch.randn(6, 5, generator=g),
        torch.randn(6, 5, generator=g),
        torch.tensor([0, 1, 2, 3, 4, 0]),
    )


def test_forward_kl_matches_torch_kl_div_golden(logits):
    s, t, _ = logits
    ours = divergence("kl", t, s, 4.0)
    ref = F.kl_div(
        F.log_softmax(s / 4, 1), F.log_softmax(t / 4, 1), reduction="batchmean", log_target=True
    )
    assert torch.allclose(ours, ref, atol=1e-6)
    assert round(float(ours), 6) == pytest.approx(
        0.052401, abs=2e-6
    )  # golden, seed 0 (agrees with F.kl_div above)


def test_reverse_kl_swaps_arguments(logits):
    s, t, _ = logits
    assert torch.allclose(divergence("reverse_kl", t, s, 2.0), divergence("kl", s, t, 2.0))


def test_jsd_is_symmetric_and_bounded(logits):
    s, t, _ = logits
    a, b = divergence("jsd", t, s, 1.0), divergence("jsd", s, t, 1.0)
    assert torch.allclose(a, b, atol=1e-6)
    assert 0 < float(a) < float(torch.log(torch.tensor(2.0)))


def test_alpha_one_is_cross_entropy_and_t_squared_scaling(logits):
    s, t, y = logits
    assert torch.allclose(KDLoss(4.0, 1.0)(s, y, t), F.cross_entropy(s, y))
    soft = KDLoss(4.0, 0.0)(s, y, t)
    assert torch.allclose(soft, 16 * divergence("kl", t, s, 4.0))
    mixed = KDLoss(4.0, 0.3)(s, y, t)
    assert torch.allclose(mixed, 0.3 * F.cross_entropy(s, y) + 0.7 * soft)


def test_unlabeled_batches_use_only_the_soft_term(logits):
    s, t, _ = logits
    assert torch.allclose(KDLoss(2.0, 0.5)(s, None, t), 4 * divergence("kl", t, s, 2.0))


def test_identical_distributions_have_zero_divergence(logits):
    s, _, _ = logits
    for kind in ("kl", "reverse_kl", "jsd"):
        assert float(divergence(kind, s, s, 3.0)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(("t", "a"), [(0.0, 0.5), (-1.0, 0.5), (2.0, 1.5)])
def test_invalid_parameters_are_rejected(t, a):
    with pytest.raises(ValueError):
        KDLoss(t, a)
