"""Data-free distillation by DeepInversion (Yin et al. 2020, "Dreaming to Distill: Data-free
Knowledge Transfer via DeepInversion").

With no training inputs, synthesize them from the teacher: start from noise x and class
targets y, and minimize over x (the teacher is frozen)

    L(x) = CE(f_t(x), y)
         + bn_weight * sum_l ( ||mu_l(x) - mu_l^BN||_2 + ||sigma_l^2(x) - sigma_l^2,BN||_2 )
         + tv_weight * TV(x) + l2_weight * ||x||_2^2

where mu_l, sigma_l^2 are the batch statistics of the input to BatchNorm layer l and
mu^BN, sigma^2,BN its running statistics (what the teacher saw in training). Then distill on
the synthetic inputs with the teacher's logits as the only targets (alpha = 0).

A teacher without BatchNorm layers has no statistics to match: ``without_bn: error`` (default)
stops with a clear message; ``without_bn: targets_only`` keeps the class-target and prior
terms only (weaker inputs, named in the report).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgekd.distill.config import DataFreeConfig
from edgekd.errors import UsageError

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def batchnorm_layers(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, _BN) and m.running_mean is not None]


class BNStatistics:
    """Forward hooks that compare each BatchNorm input's batch statistics with its running ones."""

    def __init__(self, layers: list[nn.Module]) -> None:
        self.losses: list[torch.Tensor] = []
        self._handles = [m.register_forward_hook(self._hook) for m in layers]

    def _hook(self, m: nn.Module, inp: tuple, _out: torch.Tensor) -> None:
        x = inp[0]
        dims = [0] + list(range(2, x.dim()))
        mean, var = x.mean(dim=dims), x.var(dim=dims, unbiased=False)
        rm, rv = m.running_mean, m.running_var
        assert isinstance(rm, torch.Tensor) and isinstance(rv, torch.Tensor)
        self.losses.append(torch.norm(mean - rm, 2) + torch.norm(var - rv, 2))

    def take(self) -> torch.Tensor:
        total = torch.stack(self.losses).sum() if self.losses else torch.zeros(())
        self.losses = []
        return total

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels (images) or features (vectors)."""
    if x.dim() == 4:
        return (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean() + (
            x[..., :, 1:] - x[..., :, :-1]
        ).pow(2).mean()
    return x.new_zeros(())


def deep_inversion(
    teacher: nn.Module,
    input_shape: tuple[int, ...],
    num_classes: int,
    cfg: DataFreeConfig,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Synthesize ``cfg.samples`` inputs (balanced over classes) from a frozen torch teacher.

    Returns (x, target classes, info) where info has the teacher's accuracy on its own targets
    and whether BatchNorm statistics were used.
    """
    bn = batchnorm_layers(teacher)
    if not bn and cfg.without_bn == "error":
        raise UsageError(
            "distill.method data_free: the teacher has no BatchNorm layers, so DeepInversion has "
            "no feature statistics to match. Set distill.data_free.without_bn: targets_only to "
            "synthesize from class targets and input priors only (weaker), or use a teacher "
            "with BatchNorm"
        )
    was_training = teacher.training
    teacher.eval()
    requires = [p.requires_grad for p in teacher.parameters()]
    for p in teacher.parameters():
        p.requires_grad_(False)
    gen = torch.Generator().manual_seed(seed)
    stats = BNStatistics(bn)
    xs, ys, hits = [], [], 0
    try:
        for start in range(0, cfg.samples, cfg.batch_size):
            n = min(cfg.batch_size, cfg.samples - start)
            y = (torch.arange(start, start + n) % num_classes).long()
            x = torch.randn((n, *input_shape), generator=gen).requires_grad_(True)
            opt = torch.optim.Adam([x], lr=cfg.lr)
            for _ in range(cfg.steps):
                stats.losses = []
                logits = teacher(x)
                loss = F.cross_entropy(logits, y)
                if bn and cfg.bn_weight:
                    loss = loss + cfg.bn_weight * stats.take()
                loss = loss + cfg.tv_weight * total_variation(x) + cfg.l2_weight * x.pow(2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                hits += int((teacher(x).argmax(1) == y).sum())
            xs.append(x.detach().numpy().astype(np.float32))
            ys.append(y.numpy())
            if progress is not None:
                progress(start + n, cfg.samples)
    finally:
        stats.remove()
        for p, r in zip(teacher.parameters(), requires, strict=True):
            p.requires_grad_(r)
        teacher.train(was_training)
    info = {"target_accuracy": hits / cfg.samples, "bn_layers": float(len(bn))}
    return np.concatenate(xs), np.concatenate(ys), info
