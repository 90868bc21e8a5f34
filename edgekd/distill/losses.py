"""Response-based distillation losses, each a plain ``nn.Module``.

Knowledge distillation (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural
Network"): with temperature T and weight alpha,

    L = alpha * CE(z_s, y) + (1 - alpha) * T^2 * D(p_t^T, p_s^T),   p^T = softmax(z / T)

The T^2 factor keeps soft-target gradients on the same scale as the hard-label ones when T
changes. D is one of:

- forward KL, KL(p_t || p_s): mean-seeking, the original formulation;
- reverse KL, KL(p_s || p_t): mode-seeking (as in MiniLLM, Gu et al. 2024);
- Jensen-Shannon, 0.5 KL(p_t || m) + 0.5 KL(p_s || m), m = (p_t + p_s) / 2: symmetric, bounded.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def kl_divergence(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """Batch-mean KL(p || q) from log-probabilities."""
    return (log_p.exp() * (log_p - log_q)).sum(dim=1).mean()


def divergence(kind: str, teacher_logits: torch.Tensor, student_logits: torch.Tensor, t: float):
    log_pt = F.log_softmax(teacher_logits / t, dim=1)
    log_ps = F.log_softmax(student_logits / t, dim=1)
    if kind == "kl":
        return kl_divergence(log_pt, log_ps)
    if kind == "reverse_kl":
        return kl_divergence(log_ps, log_pt)
    if kind == "jsd":
        log_m = torch.logsumexp(torch.stack([log_pt, log_ps]), dim=0) - torch.log(
            torch.tensor(2.0, dtype=log_pt.dtype)
        )
        return 0.5 * kl_divergence(log_pt, log_m) + 0.5 * kl_divergence(log_ps, log_m)
    raise ValueError(f"unknown divergence {kind!r}; expected kl, reverse_kl or jsd")


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


class HardLabelLoss(nn.Module):
    """Plain cross-entropy on labels: the from-scratch baseline."""

    def forward(
        self,
        student_logits: torch.Tensor,
        labels: torch.Tensor | None,
        teacher_logits: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if labels is None:
            raise ValueError("the hard-label loss needs labels")
        return F.cross_entropy(student_logits, labels)
