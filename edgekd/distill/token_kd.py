"""Token-level distillation of a language model: a divergence between the teacher's and the
student's next-token distributions at every learned position, from the teacher's full
logits or, exactly, from its cached top-k log-probs plus one tail bucket.

Forward KL is word-level KD (Hinton et al. 2015; Kim & Rush 2016), reverse KL is MiniLLM's
objective (Gu et al. 2024), the generalized JSD with ``beta`` is GKD's (Agarwal et al. 2024)
and total variation completes the f-divergences of ``edgekd.distill.divergences``.

**The tail bucket.** At one position the cache holds the teacher's top-k set ``S`` with
``p_i`` for ``i`` in ``S`` and the tail mass ``P_R = 1 - sum_S p_i``; the student's logits give
every ``q_j``, hence ``q_i`` on ``S`` and ``Q_R = sum_{j not in S} q_j``. The divergence is that
of the two (k + 1)-bucket distributions ``p̄ = (p_S, P_R)`` and ``q̄ = (q_S, Q_R)``. For an
f-divergence ``D_f(p || q) = sum_j q_j f(p_j / q_j)`` (KL, reverse KL, generalized JSD and TV
all are), coarse-graining the vocabulary into these buckets gives::

    D_f(p̄ || q̄) = sum_S q_i f(p_i / q_i) + Q_R f(P_R / Q_R)  <=  D_f(p || q)

(the data-processing inequality), with equality exactly when the teacher's unseen tail is
shaped like the student's, ``p_j = P_R q_j / Q_R`` for ``j`` outside ``S``. So the value is
exact for the one teacher distribution consistent with the cache that commits to nothing
outside its top k, and a lower bound of the full-vocabulary divergence otherwise; the
student is pulled to the teacher's top-k probabilities and to its tail *mass*, never to a
guessed tail shape. Nothing of vocabulary size is built for the teacher: ``log Q_R`` is a
log-sum-exp of the student's logits with ``S`` masked out.

The cache stores float16 log-probs, so the k + 1 teacher buckets are renormalized to sum to
one (a correction of about 1e-3 at most), and a tail that rounds to zero mass is floored at
``TAIL_FLOOR`` (a softmax is never exactly zero outside its top k). Slots marked invalid
(an endpoint returned fewer than k alternatives; a token a trimmed student does not have)
hold no mass on either side. When ``S`` covers the student's whole vocabulary there is no
student tail, and the teacher is renormalized over ``S``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edgekd.distill.divergences import divergence_rows

TAIL_FLOOR = 1e-6
LOG_TAIL_FLOOR = math.log(TAIL_FLOOR)


def _wide(x: torch.Tensor) -> torch.Tensor:
    """float32, or float64 when given (half precision never enters a log-sum-exp)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


@dataclass(frozen=True)
class TopKTargets:
    """The teacher at N learned positions: top-k ids in the student's vocabulary (``ids``,
    int64 [N, k]), their log-probs (``logprobs``, float [N, k], -inf for an invalid slot) and
    the log of the mass outside them (``tail``, float [N])."""

    ids: torch.Tensor
    logprobs: torch.Tensor
    tail: torch.Tensor

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def teacher_buckets(t: TopKTargets) -> tuple[torch.Tensor, torch.Tensor]:
    """(log p̄ [N, k + 1], valid [N, k + 1]): the teacher's buckets, renormalized, with the
    tail floored at ``TAIL_FLOOR``."""
    top = _wide(t.logprobs)
    valid_top = torch.isfinite(top)
    tail = torch.clamp(_wide(t.tail).to(top.dtype), min=LOG_TAIL_FLOOR).unsqueeze(-1)
    logits = torch.cat([torch.where(valid_top, top, torch.full_like(top, -math.inf)), tail], -1)
    valid = torch.cat([valid_top, torch.ones_like(tail, dtype=torch.bool)], -1)
    return torch.log_softmax(logits, dim=-1), valid


def student_buckets(
    student_logits: torch.Tensor, t: TopKTargets
) -> tuple[torch.Tensor, torch.Tensor]:
    """(log q̄ [N, k + 1], has_tail [N]): the student's log-probs on the teacher's top-k ids and
    of the mass outside them (``-inf`` where ``S`` is the whole vocabulary)."""
    z = _wide(student_logits)
    log_z = torch.logsumexp(z, dim=-1, keepdim=True)
    valid_top = torch.isfinite(t.logprobs)
    ids = t.ids.clamp(0, z.shape[-1] - 1)
    on_top = torch.gather(z, -1, ids) - log_z
    in_s = torch.zeros_like(z).scatter_add_(-1, ids, valid_top.to(z.dtype)) > 0
    rest = torch.logsumexp(z.masked_fill(in_s, -math.inf), dim=-1, keepdim=True) - log_z
    has_tail = ~in_s.all(dim=-1)
    rest = torch.where(has_tail.unsqueeze(-1), rest, torch.full_like(rest, -math.inf))
    return torch.cat([on_top, rest], -1), has_tail


def topk_divergence(
    kind: str, student_logits: torch.Tensor, t: TopKTargets, beta: float = 0.5
) -> torch.Tensor:
    """Per-position divergence [N] between the teacher's top-k + tail buckets and the
    student's (module docstring)."""
    log_pt, valid = teacher_buckets(t)
    log_qs, has_tail = student_buckets(student_logits, t)
    if not bool(has_tail.all()):  # no student tail: the teacher renormalized over S
        valid = valid.clone()
        valid[:, -1] &= has_tail
        masked = log_pt.masked_fill(~valid, -math.inf)
        log_pt = masked - torch.logsumexp(masked, dim=-1, keepdim=True)
    return divergence_rows(kind, log_pt, log_qs, valid, beta)


def dense_divergence(
    kind: str, student_logits: torch.Tensor, teacher_logits: torch.Tensor, beta: float = 0.5
) -> torch.Tensor:
    """Per-position divergence [N] from the full logits of both (same vocabulary)."""
    if teacher_logits.shape != student_logits.shape:
        raise ValueError(
            f"teacher logits {tuple(teacher_logits.shape)} and student logits "
            f"{tuple(student_logits.shape)} differ: the full-logit path needs one vocabulary"
        )
    log_pt = F.log_softmax(_wide(teacher_logits), dim=-1)
    log_ps = F.log_softmax(_wide(student_logits), dim=-1)
    return divergence_rows(kind, log_pt, log_ps, None, beta)


class TokenKDLoss(nn.Module):
    """Mean over learned positions of D(teacher || student), D one of ``DIVERGENCES``
    (``kl``: Hinton et al. 2015; ``reverse_kl``: MiniLLM, Gu et al. 2024; ``jsd``: GKD's
    generalized JSD with ``beta``, Agarwal et al. 2024; ``tv``). The teacher is either its
    top-k + tail (:class:`TopKTargets`, exact as the module docstring says) or full logits
    [N, V] over the student's vocabulary. Temperature 1, as in GKD and MiniLLM: a cached
    top-k cannot be re-tempered exactly."""

    def __init__(self, kind: str = "kl", beta: float = 0.5) -> None:
        super().__init__()
        if not 0 <= beta <= 1:
            raise ValueError(f"beta must be in [0, 1], got {beta}")
        divergence_rows(kind, torch.zeros(1, 1), torch.zeros(1, 1))  # unknown kind: ValueError
        self.kind, self.beta = kind, beta

    def forward(
        self, student_logits: torch.Tensor, teacher: TopKTargets | torch.Tensor
    ) -> torch.Tensor:
        if student_logits.shape[0] == 0:
            return student_logits.sum() * 0.0
        if isinstance(teacher, TopKTargets):
            rows = topk_divergence(self.kind, student_logits, teacher, self.beta)
        else:
            rows = dense_divergence(self.kind, student_logits, teacher, self.beta)
        return rows.mean()
