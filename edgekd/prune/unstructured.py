"""Unstructured magnitude pruning on a gradual polynomial schedule, interleaved with KD fine-tuning.

Schedule (Zhu & Gupta 2017, "To prune, or not to prune", eq. 1), for steps t = 1..n:

    s_t = s_f + (s_i - s_f) * (1 - t / n) ** 3

At each step the smallest-magnitude weights (|w|, the L1 criterion of Han et al. 2015) of every
Conv/Linear layer are masked with ``torch.nn.utils.prune`` -- ranked across all layers
(``scope: global``) or within each layer -- then the model is fine-tuned with the masks in
place. Masks are made permanent (``prune.remove``) at the end, so export sees plain weights.

Zeroed weights shrink the *compressed* file; dense kernels still multiply by the zeros, so
sparsity alone does not make inference faster.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune as tprune

from edgekd.data.loaders import DataSplits
from edgekd.distill.config import DistillConfig
from edgekd.distill.losses import kd_loss
from edgekd.errors import RecipeError
from edgekd.prune.config import PruneConfig
from edgekd.train.finetune import kd_fine_tune
from edgekd.train.loop import ProgressFn

SPEED_NOTE = (
    "unstructured sparsity shrinks the compressed file but does not speed up dense kernels "
    "(onnxruntime, TFLite and most MCU kernels multiply the zeros); use structured pruning "
    "for fewer MACs"
)


def polynomial_schedule(initial: float, final: float, steps: int) -> list[float]:
    """Target sparsity after each of ``steps`` steps (Zhu & Gupta 2017, eq. 1)."""
    return [final + (initial - final) * (1 - t / steps) ** 3 for t in range(1, steps + 1)]


def prunable_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Conv and Linear modules by path: the layers whose weights are pruned."""
    return {
        name: m
        for name, m in model.named_modules()
        if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d | nn.Linear)
    }


def check_layer_names(requested: dict[str, float], layers: dict[str, nn.Module]) -> None:
    unknown = sorted(set(requested) - set(layers))
    if unknown:
        raise RecipeError(
            f"prune.layers: unknown layer(s) {', '.join(unknown)}; "
            f"prunable layers are: {', '.join(layers)}"
        )


def layer_targets(cfg: PruneConfig, layers: dict[str, nn.Module]) -> dict[str, float]:
    """Final sparsity per layer: the override where given, else ``cfg.sparsity``."""
    check_layer_names(cfg.layers, layers)
    return {name: cfg.layers.get(name, cfg.sparsity) for name in layers}


def _mask_smallest(weights: list[torch.Tensor], fraction: float) -> list[torch.Tensor]:
    """Masks zeroing the ``fraction`` smallest |w| across ``weights`` (ranked jointly)."""
    flat = torch.cat([w.detach().abs().flatten() for w in weights])
    k = int(round(fraction * flat.numel()))
    if k == 0:
        return [torch.ones_like(w) for w in weights]
    threshold = torch.kthvalue(flat, k).values
    masks = []
    # ties at the threshold: mask strictly smaller first, then fill up to exactly k
    for w in weights:
        masks.append((w.detach().abs() > threshold).float())
    below = sum(int((m == 0).sum()) for m in masks)
    budget = below - k  # > 0 means too many masked because of ties: unmask some
    for m, w in zip(masks, weights, strict=True):
        if budget <= 0:
            break
        tie = ((w.detach().abs() == threshold) & (m == 0)).flatten().nonzero().flatten()
        give = tie[:budget]
        m.view(-1)[give] = 1.0
        budget -= len(give)
    return masks


def apply_step(layers: dict[str, nn.Module], fractions: dict[str, float], joint: list[str]) -> None:
    """Mask each layer to sparsity ``fractions[name]``; layers in ``joint`` are ranked together."""
    groups = [joint] if joint else []
    groups += [[name] for name in layers if name not in joint]
    for names in groups:
        weights: list[torch.Tensor] = [layers[n].weight for n in names]  # type: ignore[misc]
        for name, mask in zip(names, _mask_smallest(weights, fractions[names[0]]), strict=True):
            tprune.custom_from_mask(layers[name], "weight", mask)


def make_permanent(layers: dict[str, nn.Module]) -> None:
    """Fold masks into the weights (``prune.remove``) so saved/exported models are plain."""
    for m in layers.values():
        if tprune.is_pruned(m):
            tprune.remove(m, "weight")


def sparsity_report(layers: dict[str, nn.Module]) -> tuple[dict[str, float], float]:
    """Share of exactly-zero weights per layer and over all pruned layers."""
    per_layer, zeros, total = {}, 0, 0
    for name, m in layers.items():
        weight = m.weight
        assert isinstance(weight, torch.Tensor)
        w = weight.detach()
        z = int((w == 0).sum())
        per_layer[name] = z / w.numel()
        zeros, total = zeros + z, total + w.numel()
    return per_layer, zeros / max(total, 1)


def prune_unstructured(
    model: nn.Module,
    cfg: PruneConfig,
    data: DataSplits,
    teacher_logits: np.ndarray,
    distill: DistillConfig,
    progress: ProgressFn | None = None,
) -> tuple[nn.Module, dict]:
    """Prune ``model`` in place step by step, fine-tuning after each step; returns it and notes.

    Global scope ranks layers that share the largest target jointly (overridden layers are
    ranked on their own), as in ``torch.nn.utils.prune.global_unstructured``.
    """
    layers = prunable_layers(model)
    targets = layer_targets(cfg, layers)
    schedules = {
        n: polynomial_schedule(min(cfg.initial_sparsity, s), s, cfg.steps)
        for n, s in targets.items()
    }
    joint = [n for n in layers if n not in cfg.layers] if cfg.scope == "global" else []
    epochs = max(1, math.ceil(cfg.fine_tune.epochs / cfg.steps))
    step_cfg = cfg.fine_tune.model_copy(update={"epochs": epochs})
    history = []
    for step in range(cfg.steps):
        fractions = {n: schedules[n][step] for n in layers}
        apply_step(layers, fractions, joint)
        hist = kd_fine_tune(model, step_cfg, data, teacher_logits, kd_loss(distill), progress)
        history.append(
            {"step": step + 1, "sparsity": fractions, "val_accuracy": hist.best_val_accuracy}
        )
    make_permanent(layers)
    return model, {"schedule": history, "fine_tune_epochs_per_step": epochs, "note": SPEED_NOTE}
