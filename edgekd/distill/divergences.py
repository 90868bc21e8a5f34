"""Divergences between the teacher's and the student's class distributions: the soft-target
term of response-based distillation (``edgekd.distill.losses.KDLoss``).

``DIVERGENCES`` is the one list: the recipe's ``distill.divergence`` accepts its keys. Each
function takes the log-probabilities (N, C) of teacher and student at temperature T and
returns the batch mean. To add one, write the function here and add it to the dict.

- ``kl``: forward KL(p_t || p_s), mean-seeking (Hinton, Vinyals & Dean 2015);
- ``reverse_kl``: KL(p_s || p_t), mode-seeking (as in MiniLLM, Gu et al. 2024);
- ``jsd``: Jensen-Shannon, 0.5 KL(p_t || m) + 0.5 KL(p_s || m), m = (p_t + p_s) / 2:
  symmetric and bounded by log 2 (Lin 1991).

torch is imported inside the functions, so the recipe schema can read the names cheaply.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from torch import Tensor


def kl_divergence(log_p: Tensor, log_q: Tensor) -> Tensor:
    """Batch-mean KL(p || q) from log-probabilities."""
    return (log_p.exp() * (log_p - log_q)).sum(dim=1).mean()


def forward_kl(log_pt: Tensor, log_ps: Tensor) -> Tensor:
    return kl_divergence(log_pt, log_ps)


def reverse_kl(log_pt: Tensor, log_ps: Tensor) -> Tensor:
    return kl_divergence(log_ps, log_pt)


def jensen_shannon(log_pt: Tensor, log_ps: Tensor) -> Tensor:
    import torch

    log_m = torch.logsumexp(torch.stack([log_pt, log_ps]), dim=0) - math.log(2.0)
    return 0.5 * kl_divergence(log_pt, log_m) + 0.5 * kl_divergence(log_ps, log_m)


DIVERGENCES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "kl": forward_kl,
    "reverse_kl": reverse_kl,
    "jsd": jensen_shannon,
}

if TYPE_CHECKING:
    Divergence = str
else:
    Divergence = Literal[tuple(DIVERGENCES)]
