"""Structured (channel/neuron) pruning with torch-pruning's DepGraph, then KD fine-tuning.

DepGraph (Fang et al. 2023, "DepGraph: Towards Any Structural Pruning") groups every tensor
coupled to a channel (conv weight, the BatchNorm after it, the next layer's input columns) so
removing a channel removes all of them: the model really gets fewer params and MACs.
Channel importance is the group's L1 or L2 weight norm (Li et al. 2017, "Pruning Filters for
Efficient ConvNets") or first-order Taylor |w * dL/dw| (Molchanov et al. 2019).
Pruning runs in ``steps`` equal increments (torch-pruning's linear scheduler), each followed by
fine-tuning; the classifier's outputs are never pruned.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from edgekd.data.loaders import DataSplits
from edgekd.distill.config import DistillConfig
from edgekd.distill.losses import kd_loss
from edgekd.errors import RecipeError, StageError, require
from edgekd.prune.config import PruneConfig
from edgekd.prune.unstructured import check_layer_names, prunable_layers
from edgekd.train.finetune import kd_fine_tune
from edgekd.train.loop import ProgressFn


def output_layer(model: nn.Module) -> str:
    """Path of the last Conv/Linear layer: its outputs are the logits and are never pruned."""
    layers = prunable_layers(model)
    if not layers:
        raise RecipeError("prune: the model has no Conv or Linear layer to prune")
    return list(layers)[-1]


def out_channels(m: nn.Module) -> int:
    if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d):
        return int(m.out_channels)
    assert isinstance(m, nn.Linear)
    return int(m.out_features)


def check_ratios(cfg: PruneConfig, layers: dict[str, nn.Module]) -> dict[str, float]:
    """Ratio per prunable layer; a ratio that would remove every channel is a RecipeError.

    torch-pruning keeps ``int(channels * (1 - ratio))`` channels (``BasePruner._prune``).
    """
    check_layer_names(cfg.layers, layers)
    ratios = {name: cfg.layers.get(name, cfg.sparsity) for name in layers}
    for name, ratio in ratios.items():
        n = out_channels(layers[name])
        if int(n * (1 - ratio)) < 1:
            field = f"prune.layers.{name}" if name in cfg.layers else "prune.sparsity"
            raise RecipeError(
                f"{field}={ratio}: would remove every channel of layer {name!r} "
                f"({n} channels, keeps {int(n * (1 - ratio))}); use a ratio below {1 - 1 / n:.3f} "
                "or exclude the layer"
            )
    return ratios


def make_importance(kind: str) -> Any:
    tp = require("torch_pruning", "prune")
    if kind == "taylor":
        return tp.importance.GroupTaylorImportance()
    return tp.importance.GroupMagnitudeImportance(p=1 if kind == "l1" else 2)


def _taylor_gradients(
    model: nn.Module, data: DataSplits, teacher_logits: np.ndarray, distill: DistillConfig
) -> None:
    """One KD-loss backward pass on up to 256 training samples, for Taylor importance."""
    model.zero_grad()
    n = min(256, len(data.train))
    loss = kd_loss(distill)
    y = None if data.train.y is None else torch.from_numpy(data.train.y[:n])
    from edgekd.data.inputs import to_torch

    out = model(*to_torch(data.train.take(n)))
    loss(out, y, torch.from_numpy(teacher_logits[:n].astype(np.float32))).backward()


def channel_report(model: nn.Module) -> dict[str, int]:
    return {name: out_channels(m) for name, m in prunable_layers(model).items()}


def prune_structured(
    model: nn.Module,
    cfg: PruneConfig,
    data: DataSplits,
    teacher_logits: np.ndarray,
    distill: DistillConfig,
    progress: ProgressFn | None = None,
) -> tuple[nn.Module, dict]:
    """Remove channels in place in ``cfg.steps`` increments, fine-tuning after each."""
    tp = require("torch_pruning", "prune")
    head = output_layer(model)
    layers = {n: m for n, m in prunable_layers(model).items() if n != head}
    ratios = check_ratios(cfg, layers)
    model.eval()
    example = torch.zeros(1, *data.input_shape)
    try:
        pruner = tp.pruner.BasePruner(
            model,
            example,
            importance=make_importance(cfg.importance),
            global_pruning=cfg.scope == "global",
            pruning_ratio=cfg.sparsity,
            pruning_ratio_dict={layers[n]: r for n, r in ratios.items() if n in cfg.layers},
            max_pruning_ratio=max(ratios.values(), default=0.0),
            iterative_steps=cfg.steps,
            ignored_layers=[dict(model.named_modules())[head]],
        )
    except Exception as exc:
        raise StageError(f"torch-pruning cannot trace this model's dependencies: {exc}") from exc
    epochs = max(1, math.ceil(cfg.fine_tune.epochs / cfg.steps))
    step_cfg = cfg.fine_tune.model_copy(update={"epochs": epochs})
    history = []
    for step in range(cfg.steps):
        if cfg.importance == "taylor":
            _taylor_gradients(model, data, teacher_logits, distill)
        pruner.step()
        model.zero_grad()
        empty = [n for n, c in channel_report(model).items() if c == 0]
        if empty:
            raise StageError(f"structured pruning removed every channel of {', '.join(empty)}")
        hist = kd_fine_tune(model, step_cfg, data, teacher_logits, kd_loss(distill), progress)
        history.append(
            {
                "step": step + 1,
                "channels": channel_report(model),
                "val_accuracy": hist.best_val_accuracy,
            }
        )
    return model, {"schedule": history, "fine_tune_epochs_per_step": epochs}
