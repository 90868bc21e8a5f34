"""Divergences between the teacher's and the student's distributions: the soft-target term of
response-based distillation (``edgekd.distill.losses.KDLoss``) and of token-level language
model distillation (``edgekd.distill.token_kd``).

``DIVERGENCES`` is the one list: the recipe's ``distill.divergence`` accepts its keys. Each
entry takes the log-probabilities (N, C) of teacher and student and returns the mean over the
N rows; :func:`divergence_rows` gives the per-row values (with an optional mask of the
categories that exist in a row, and the generalized JSD's ``beta``). To add one, write its
per-row function here and add it to ``_ROWS`` and the dict.

- ``kl``: forward KL(p_t || p_s), mean-seeking (Hinton, Vinyals & Dean 2015);
- ``reverse_kl``: KL(p_s || p_t), mode-seeking (MiniLLM, Gu et al. 2024);
- ``jsd``: the generalized Jensen-Shannon divergence of GKD (Agarwal et al. 2024, eq. 1),
  ``beta * KL(p_t || m) + (1 - beta) * KL(p_s || m)`` with ``m = beta p_t + (1 - beta) p_s``;
  as in TRL's ``GKDTrainer.generalized_jsd_loss``, ``beta = 0`` is exactly forward KL and
  ``beta = 1`` exactly reverse KL (the divergence itself vanishes at both ends; TRL and GKD
  use the limits' directions). ``beta = 0.5`` (the dict's entry) is the symmetric JSD,
  bounded by log 2 (Lin 1991);
- ``tv``: total variation, ``0.5 * sum |p_t - p_s|``, bounded by 1 (used for sequence KD
  bounds by Wen et al. 2023, "f-Divergence Minimization for Sequence-Level KD").

All four are f-divergences, which is what makes the top-k + tail computation of
``edgekd.distill.token_kd`` exact. Categories with zero mass on both sides (masked out by
``valid``) contribute nothing and pass no gradient.

torch is imported inside the functions, so the recipe schema can read the names cheaply.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from torch import Tensor

RowFn = Callable[["Tensor", "Tensor", "Tensor | None", float], "Tensor"]


def _safe(log_p: Tensor, valid: Tensor | None) -> Tensor:
    """``log_p`` with masked entries set to 0, so no -inf - -inf reaches the arithmetic."""
    import torch

    return log_p if valid is None else torch.where(valid, log_p, torch.zeros_like(log_p))


def _sum(terms: Tensor, valid: Tensor | None) -> Tensor:
    import torch

    if valid is not None:
        terms = torch.where(valid, terms, torch.zeros_like(terms))
    return terms.sum(dim=-1)


def kl_rows(log_p: Tensor, log_q: Tensor, valid: Tensor | None = None) -> Tensor:
    """KL(p || q) per row: sum_c p_c (log p_c - log q_c); a category with p_c = 0 adds 0."""
    import torch

    lp, lq = _safe(log_p, valid), _safe(log_q, valid)
    p = lp.exp()
    terms = torch.where(p > 0, p * (lp - lq), torch.zeros_like(p))
    return _sum(terms, valid)


def _forward_kl(log_pt: Tensor, log_ps: Tensor, valid: Tensor | None, beta: float) -> Tensor:
    return kl_rows(log_pt, log_ps, valid)


def _reverse_kl(log_pt: Tensor, log_ps: Tensor, valid: Tensor | None, beta: float) -> Tensor:
    return kl_rows(log_ps, log_pt, valid)


def _generalized_jsd(log_pt: Tensor, log_ps: Tensor, valid: Tensor | None, beta: float) -> Tensor:
    import torch

    if not 0 <= beta <= 1:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    if beta == 0:
        return kl_rows(log_pt, log_ps, valid)
    if beta == 1:
        return kl_rows(log_ps, log_pt, valid)
    lt, ls = _safe(log_pt, valid), _safe(log_ps, valid)
    log_m = torch.logsumexp(torch.stack([lt + math.log(beta), ls + math.log1p(-beta)]), dim=0)
    return beta * kl_rows(lt, log_m, valid) + (1 - beta) * kl_rows(ls, log_m, valid)


def _total_variation(log_pt: Tensor, log_ps: Tensor, valid: Tensor | None, beta: float) -> Tensor:
    lt, ls = _safe(log_pt, valid), _safe(log_ps, valid)
    return 0.5 * _sum((lt.exp() - ls.exp()).abs(), valid)


_ROWS: dict[str, RowFn] = {
    "kl": _forward_kl,
    "reverse_kl": _reverse_kl,
    "jsd": _generalized_jsd,
    "tv": _total_variation,
}


def divergence_rows(
    kind: str,
    log_pt: Tensor,
    log_ps: Tensor,
    valid: Tensor | None = None,
    beta: float = 0.5,
) -> Tensor:
    """``DIVERGENCES[kind]`` per row of (..., C) log-probs; ``valid`` (bool, same shape) marks
    the categories that exist (the rest must have zero mass on both sides); ``beta`` is the
    generalized JSD's (ignored by the others)."""
    if kind not in _ROWS:
        raise ValueError(f"unknown divergence {kind!r}; expected one of {', '.join(_ROWS)}")
    return _ROWS[kind](log_pt, log_ps, valid, beta)


def kl_divergence(log_p: Tensor, log_q: Tensor) -> Tensor:
    """Batch-mean KL(p || q) from log-probabilities."""
    return kl_rows(log_p, log_q).mean()


def forward_kl(log_pt: Tensor, log_ps: Tensor) -> Tensor:
    return kl_rows(log_pt, log_ps).mean()


def reverse_kl(log_pt: Tensor, log_ps: Tensor) -> Tensor:
    return kl_rows(log_ps, log_pt).mean()


def jensen_shannon(log_pt: Tensor, log_ps: Tensor) -> Tensor:
    return _generalized_jsd(log_pt, log_ps, None, 0.5).mean()


def total_variation(log_pt: Tensor, log_ps: Tensor) -> Tensor:
    return _total_variation(log_pt, log_ps, None, 0.5).mean()


DIVERGENCES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "kl": forward_kl,
    "reverse_kl": reverse_kl,
    "jsd": jensen_shannon,
    "tv": total_variation,
}

if TYPE_CHECKING:
    Divergence = str
else:
    Divergence = Literal[tuple(DIVERGENCES)]
