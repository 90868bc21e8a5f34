"""Token-level divergences: golden values, TRL's generalized JSD, and the top-k + tail bucket
against the dense computation on small vocabularies."""

import math

import pytest
import torch
import torch.nn.functional as F

from edgekd.distill.divergences import DIVERGENCES, divergence_rows
from edgekd.distill.token_kd import TokenKDLoss, TopKTargets, dense_divergence, topk_divergence

KINDS = ("kl", "reverse_kl", "jsd", "tv")


def _log(p):
    return torch.log(torch.tensor([p], dtype=torch.float64))


def test_golden_values_on_two_categories():
    """p = (0.5, 0.5) teacher, q = (0.9, 0.1) student, by hand."""
    lp, lq = _log([0.5, 0.5]), _log([0.9, 0.1])
    kl = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    rkl = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    m = (0.7, 0.3)
    jsd = 0.5 * (0.5 * math.log(0.5 / m[0]) + 0.5 * math.log(0.5 / m[1])) + 0.5 * (
        0.9 * math.log(0.9 / m[0]) + 0.1 * math.log(0.1 / m[1])
    )
    expected = {"kl": kl, "reverse_kl": rkl, "jsd": jsd, "tv": 0.4}
    golden = {"kl": 0.510826, "reverse_kl": 0.368064, "jsd": 0.101750, "tv": 0.4}
    for kind in KINDS:
        got = float(divergence_rows(kind, lp, lq)[0])
        assert got == pytest.approx(expected[kind], abs=1e-9), kind
        assert got == pytest.approx(golden[kind], abs=1e-6), kind


def _trl_generalized_jsd(student_logits, teacher_logits, beta):
    """TRL's GKDTrainer.generalized_jsd_loss (temperature 1, no labels), written out."""
    s = F.log_softmax(student_logits, -1)
    t = F.log_softmax(teacher_logits, -1)
    if beta == 0:
        jsd = F.kl_div(s, t, reduction="none", log_target=True)
    elif beta == 1:
        jsd = F.kl_div(t, s, reduction="none", log_target=True)
    else:
        b = torch.tensor(beta, dtype=s.dtype)
        m = torch.logsumexp(torch.stack([s + torch.log1p(-b), t + torch.log(b)]), dim=0)
        jsd = b * F.kl_div(m, t, reduction="none", log_target=True) + (1 - b) * F.kl_div(
            m, s, reduction="none", log_target=True
        )
    return jsd.sum() / (jsd.size(0) * jsd.size(1))


@pytest.mark.parametrize("beta", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_generalized_jsd_matches_trl(beta):
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn(2, 7, 11, generator=g), torch.randn(2, 7, 11, generator=g)
    ours = TokenKDLoss("jsd", beta)(s.reshape(-1, 11), t.reshape(-1, 11))
    assert float(ours) == pytest.approx(float(_trl_generalized_jsd(s, t, beta)), rel=1e-5)


def test_jsd_limits_are_the_two_kls_and_half_is_the_classic_jsd():
    g = torch.Generator().manual_seed(2)
    lt, ls = (
        F.log_softmax(torch.randn(5, 9, generator=g), -1),
        F.log_softmax(torch.randn(5, 9, generator=g), -1),
    )
    assert torch.allclose(divergence_rows("jsd", lt, ls, beta=0.0), divergence_rows("kl", lt, ls))
    assert torch.allclose(
        divergence_rows("jsd", lt, ls, beta=1.0), divergence_rows("reverse_kl", lt, ls)
    )
    assert torch.allclose(divergence_rows("jsd", lt, ls).mean(), DIVERGENCES["jsd"](lt, ls))
    assert float(DIVERGENCES["jsd"](lt, ls)) < math.log(2)
    assert float(DIVERGENCES["tv"](lt, ls)) <= 1


def _teacher_with_student_shaped_tail(student_logits, k, seed):
    """A dense teacher whose top-k is random and whose tail is proportional to the student's:
    the case where the bucketed divergence is the full one."""
    g = torch.Generator().manual_seed(seed)
    n, v = student_logits.shape
    q = torch.softmax(student_logits.double(), -1)
    ids = torch.stack([torch.randperm(v, generator=g)[:k] for _ in range(n)])
    top = torch.rand(n, k, generator=g, dtype=torch.float64) + 0.05
    tail_mass = torch.rand(n, 1, generator=g, dtype=torch.float64) * 0.5 + 0.05
    top = top / top.sum(-1, keepdim=True) * (1 - tail_mass)
    in_s = torch.zeros(n, v, dtype=torch.bool).scatter_(1, ids, True)
    q_rest = torch.where(in_s, torch.zeros_like(q), q)
    p = q_rest / q_rest.sum(-1, keepdim=True) * tail_mass
    p = p.scatter(1, ids, top)
    return p, ids


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("beta", [0.2, 0.5])
def test_topk_plus_tail_is_exact_when_the_tail_follows_the_student(kind, beta):
    g = torch.Generator().manual_seed(3)
    z = torch.randn(12, 40, generator=g, dtype=torch.float64) * 2
    p, ids = _teacher_with_student_shaped_tail(z, k=5, seed=4)
    lp = torch.log(p)
    targets = TopKTargets(ids, lp.gather(1, ids), torch.log(1 - p.gather(1, ids).sum(-1)))
    sparse = topk_divergence(kind, z, targets, beta)
    dense = divergence_rows(kind, lp, F.log_softmax(z, -1), beta=beta)
    assert torch.allclose(sparse.double(), dense, atol=1e-5), (sparse, dense)


@pytest.mark.parametrize("kind", KINDS)
def test_topk_plus_tail_never_exceeds_the_dense_divergence(kind):
    """Data-processing inequality: merging the tail into one bucket can only lose divergence;
    with k = V - 1 the single tail token is its own bucket and nothing is lost."""
    g = torch.Generator().manual_seed(5)
    z_s = torch.randn(20, 30, generator=g, dtype=torch.float64) * 2
    z_t = torch.randn(20, 30, generator=g, dtype=torch.float64) * 2
    lt = F.log_softmax(z_t, -1)
    dense = dense_divergence(kind, z_s, z_t)
    for k in (1, 5, 29):
        top_lp, ids = lt.topk(k, -1)
        tail = torch.log1p(-top_lp.exp().sum(-1).clamp(max=1 - 1e-12))
        sparse = topk_divergence(kind, z_s, TopKTargets(ids, top_lp, tail))
        assert bool((sparse <= dense + 1e-9).all()), (kind, k)
        if k == 29:
            assert torch.allclose(sparse, dense, atol=1e-9)


def test_topk_covering_the_whole_vocabulary_is_the_dense_divergence():
    g = torch.Generator().manual_seed(6)
    z_s, z_t = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g)
    top_lp, ids = F.log_softmax(z_t, -1).topk(6, -1)
    t = TopKTargets(ids, top_lp, torch.full((4,), -math.inf))
    for kind in KINDS:
        assert torch.allclose(topk_divergence(kind, z_s, t), dense_divergence(kind, z_s, z_t))


def test_invalid_slots_and_empty_tails_give_finite_values_and_gradients():
    """An endpoint's missing alternatives (-inf), a tail rounded to zero, duplicate padding ids."""
    g = torch.Generator().manual_seed(7)
    z = torch.randn(3, 10, generator=g, requires_grad=True)
    ids = torch.tensor([[2, 5, 0], [1, 0, 0], [4, 3, 9]])
    lp = torch.tensor([[-0.1, -2.5, -math.inf], [-0.05, -math.inf, -math.inf], [-1.0, -1.2, -1.5]])
    rest = math.log(1 - sum(math.exp(x) for x in (-1.0, -1.2, -1.5)))
    tail = torch.tensor([-3.0, -math.inf, rest])
    for kind in KINDS:
        loss = TokenKDLoss(kind, 0.3)(z, TopKTargets(ids, lp, tail))
        (grad,) = torch.autograd.grad(loss, z)
        assert math.isfinite(loss.item()) and loss.item() >= 0, kind
        assert bool(torch.isfinite(grad).all()), kind


def test_a_student_equal_to_the_teacher_has_zero_loss_and_a_better_one_a_lower_loss():
    g = torch.Generator().manual_seed(8)
    z_t = torch.randn(16, 25, generator=g) * 3
    top_lp, ids = F.log_softmax(z_t, -1).topk(4, -1)
    tail = torch.log1p(-top_lp.exp().sum(-1))
    t = TopKTargets(ids, top_lp, tail)
    far = torch.randn(16, 25, generator=g) * 3
    for kind in KINDS:
        loss = TokenKDLoss(kind)
        assert float(loss(z_t, t)) == pytest.approx(0.0, abs=1e-5)
        assert float(loss(0.5 * z_t + 0.5 * far, t)) < float(loss(far, t))


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError, match="beta"):
        TokenKDLoss("jsd", 1.5)
    with pytest.raises(ValueError, match="unknown divergence 'tvd'"):
        TokenKDLoss("tvd")
