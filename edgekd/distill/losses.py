"""Response-based distillation losses, each a plain ``nn.Module``.

Knowledge distillation (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural
Network"): with temperature T and weight alpha,

    L = alpha * CE(z_s, y) + (1 - alpha) * T^2 * D(p_t^T, p_s^T),   p^T = softmax(z / T)

The T^2 factor keeps soft-target gradients on the same scale as the hard-label ones when T
changes. D is one of ``edgekd.distill.divergences.DIVERGENCES`` (forward KL, reverse KL,
Jensen-Shannon).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from edgekd.distill.divergences import DIVERGENCES, kl_divergence

if TYPE_CHECKING:
    from edgekd.distill.config import DistillConfig

__all__ = ["KDLoss", "divergence", "kd_loss", "kl_divergence"]


def divergence(
    kind: str, teacher_logits: torch.Tensor, student_logits: torch.Tensor, t: float
) -> torch.Tensor:
    """``DIVERGENCES[kind]`` between the softmaxes of teacher and student logits at ``t``."""
    if kind not in DIVERGENCES:
        raise ValueError(f"unknown divergence {kind!r}; expected one of {', '.join(DIVERGENCES)}")
    log_pt = F.log_softmax(teacher_logits / t, dim=1)
    log_ps = F.log_softmax(student_logits / t, dim=1)
    return DIVERGENCES[kind](log_pt, log_ps)


class KDLoss(nn.Module):
    """alpha * CE(student, labels) + (1 - alpha) * T^2 * D(teacher/T, student/T).

    With ``labels=None`` (unlabeled data) only the distillation term is used.
    """

    def __init__(self, temperature: float = 4.0, alpha: float = 0.1, kind: str = "kl") -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        if kind not in DIVERGENCES:
            raise ValueError(
                f"unknown divergence {kind!r}; expected one of {', '.join(DIVERGENCES)}"
            )
        self.temperature, self.alpha, self.kind = temperature, alpha, kind

    def forward(
        self,
        student_logits: torch.Tensor,
        labels: torch.Tensor | None,
        teacher_logits: torch.Tensor,
    ) -> torch.Tensor:
        t = self.temperature
        soft = t * t * divergence(self.kind, teacher_logits, student_logits, t)
        if labels is None or self.alpha == 0:
            return soft
        return self.alpha * F.cross_entropy(student_logits, labels) + (1 - self.alpha) * soft


def kd_loss(cfg: DistillConfig, labeled: bool = True) -> KDLoss:
    """The recipe's KD loss; on unlabeled data only the soft term (alpha = 0)."""
    return KDLoss(cfg.temperature, cfg.alpha if labeled else 0.0, cfg.divergence)
