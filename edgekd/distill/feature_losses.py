"""Feature-based distillation losses, each a plain ``nn.Module`` over captured features.

Features come from :class:`edgekd.distill.hooks.FeatureHooks`; these losses only see tensors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def make_adapter(student_shape: tuple[int, ...], teacher_shape: tuple[int, ...]) -> nn.Module:
    """A learned regressor from student to teacher features (FitNets' "regressor").

    (C, H, W) features: a 1x1 convolution for channels, then adaptive average pooling when the
    spatial sizes differ. (D,) features: a linear layer. Equal shapes still get an adapter (the
    paper always regresses); shapes of different rank are rejected.
    """
    if len(student_shape) == 3 and len(teacher_shape) == 3:
        layers: list[nn.Module] = [nn.Conv2d(student_shape[0], teacher_shape[0], 1, bias=False)]
        if tuple(student_shape[1:]) != tuple(teacher_shape[1:]):
            layers.append(nn.AdaptiveAvgPool2d(tuple(teacher_shape[1:])))
        return nn.Sequential(*layers)
    if len(student_shape) == 1 and len(teacher_shape) == 1:
        return nn.Linear(student_shape[0], teacher_shape[0], bias=False)
    raise ValueError(
        f"cannot bridge student features of shape {student_shape} to teacher features of "
        f"shape {teacher_shape}; pick layers that are both conv maps (C, H, W) or both vectors"
    )


class HintLoss(nn.Module):
    """FitNets hint loss (Romero et al. 2015, "FitNets: Hints for Thin Deep Nets").

        L_hint = mean( (r(F_s) - F_t)^2 )

    where F_s is the student's guided-layer output, F_t the teacher's hint-layer output and r a
    learned adapter (1x1 conv or linear, :func:`make_adapter`). The mean runs over batch and
    feature elements (the paper's 1/2 ||.||^2 up to a constant).
    """

    def __init__(self, adapter: nn.Module) -> None:
        super().__init__()
        self.adapter = adapter

    def forward(self, f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(self.adapter(f_s), f_t)


def attention_map(f: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """Spatial attention of a (N, C, H, W) map: Q = vec(sum_c |A_c|^p), L2-normalized, (N, HW)."""
    q = f.abs().pow(p).mean(dim=1).flatten(1)
    return F.normalize(q, dim=1)


class AttentionTransferLoss(nn.Module):
    """Activation-based attention transfer (Zagoruyko & Komodakis 2017, "Paying More Attention
    to Attention").

        L_AT = mean_n || q_s - q_t ||_2^2,   q = Q / ||Q||_2,   Q = vec(sum_c |A_c|^p)

    The authors' code averages (q_s - q_t)^2 over positions too and uses beta = 1e3 on 32x32
    maps, i.e. about 1e3 / 1024 ~ 1 times this per-sample sum, which does not depend on the
    map size (edgekd's maps are 4x4 or 2x2). The mean over channels in Q differs from the sum by
    a constant that the normalization cancels.
    When the spatial sizes differ, the larger map is average-pooled to the smaller one's size.
    No learned parameters.
    """

    def __init__(self, p: float = 2.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
        if f_s.dim() != 4 or f_t.dim() != 4:
            raise ValueError(
                f"attention transfer needs conv feature maps (N, C, H, W); got shapes "
                f"{tuple(f_s.shape)} and {tuple(f_t.shape)}"
            )
        hs, ht = f_s.shape[-2:], f_t.shape[-2:]
        if hs != ht:
            size = (min(hs[0], ht[0]), min(hs[1], ht[1]))
            f_s, f_t = F.adaptive_avg_pool2d(f_s, size), F.adaptive_avg_pool2d(f_t, size)
        diff = attention_map(f_s, self.p) - attention_map(f_t, self.p)
        return diff.pow(2).sum(dim=1).mean()
