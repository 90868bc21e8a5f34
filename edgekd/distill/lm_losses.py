"""Language-model distillation losses on the learned positions of a batch, each a plain
``nn.Module``. Logits come in already gathered at the learned positions ([N, V]), targets
are the teacher's tokens there ([N]); positions outside assistant turns (or of turns with
``weight: 0``) never reach a loss.

- :class:`SequenceKDLoss`: sequence-level KD (Kim & Rush 2016, "Sequence-Level Knowledge
  Distillation"): cross-entropy on the teacher's generated answers, i.e. fine-tuning on them;
- :class:`RationaleLoss`: distilling step-by-step (Hsieh et al. 2023): ``alpha * L_answer +
  (1 - alpha) * L_rationale``, each the mean CE over its task's tokens;
- :class:`LMKDLoss`: ``sft_weight * CE + kd_weight * D`` with D the token-level divergence of
  ``edgekd.distill.token_kd`` (forward KL, reverse KL, generalized JSD, TV).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgekd.distill.token_kd import TokenKDLoss, TopKTargets


def _ce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if targets.numel() == 0:
        return logits.sum() * 0.0
    return F.cross_entropy(logits.float(), targets)


class SequenceKDLoss(nn.Module):
    """Mean cross-entropy of the teacher's tokens (Kim & Rush 2016)."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return _ce(logits, targets)


class RationaleLoss(nn.Module):
    """``alpha * CE(answer tokens) + (1 - alpha) * CE(rationale tokens)`` (Hsieh et al. 2023,
    eq. 3 with the paper's lambda written as (1 - alpha) / alpha); a task absent from the
    batch contributes 0."""

    def __init__(self, alpha: float = 0.5) -> None:
        super().__init__()
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.alpha = alpha

    def forward(
        self, logits: torch.Tensor, targets: torch.Tensor, is_rationale: torch.Tensor
    ) -> torch.Tensor:
        answer = _ce(logits[~is_rationale], targets[~is_rationale])
        rationale = _ce(logits[is_rationale], targets[is_rationale])
        return self.alpha * answer + (1 - self.alpha) * rationale


class LMKDLoss(nn.Module):
    """``sft_weight * CE(teacher tokens) + kd_weight * D(teacher || student)``; the CE runs over
    every learned position, D over the positions with teacher targets (the same ones, or the
    final answer's when the targets come from the dataset)."""

    def __init__(
        self, kind: str = "kl", beta: float = 0.5, sft_weight: float = 1.0, kd_weight: float = 1.0
    ) -> None:
        super().__init__()
        if sft_weight < 0 or kd_weight < 0:
            raise ValueError("loss weights must be >= 0")
        self.token = TokenKDLoss(kind, beta)
        self.sft_weight, self.kd_weight = sft_weight, kd_weight

    def forward(
        self,
        logits: torch.Tensor,
        targets: torch.Tensor,
        kd_logits: torch.Tensor,
        teacher: TopKTargets | torch.Tensor,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        ce = _ce(logits, targets)
        kd = self.token(kd_logits, teacher)
        loss = self.sft_weight * ce + self.kd_weight * kd
        return loss, {"ce": float(ce.detach()), "kd": float(kd.detach())}
