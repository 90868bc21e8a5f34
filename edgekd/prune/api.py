"""The prune stage: one call the pipeline makes, returning the pruned model and its report."""

from __future__ import annotations

import copy
import gzip
import io
from typing import Any

import numpy as np
import torch
from torch import nn

from edgekd.data.loaders import DataSplits
from edgekd.distill.config import DistillConfig
from edgekd.models.zoo import count_params, torch_macs
from edgekd.prune.config import PruneConfig
from edgekd.prune.structured import channel_report, prune_structured
from edgekd.prune.unstructured import (
    SPEED_NOTE,
    prunable_layers,
    prune_unstructured,
    sparsity_report,
)
from edgekd.train.finetune import check_teacher_logits, val_accuracy
from edgekd.train.loop import ProgressFn


def gzip_size(model: nn.Module) -> int:
    """Bytes of the gzip'd (level 9) float32 state dict: what sparsity saves on disk/flash."""
    buf = io.BytesIO()
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    torch.save(state, buf)
    return len(gzip.compress(buf.getvalue(), compresslevel=9))


def raw_size(model: nn.Module) -> int:
    """Bytes of the uncompressed state dict."""
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return len(buf.getvalue())


def measure(model: nn.Module, data: DataSplits) -> dict[str, Any]:
    """Size, compute and accuracy numbers of ``model`` (the before/after columns)."""
    per_layer, overall = sparsity_report(prunable_layers(model))
    return {
        "params": count_params(model),
        "macs": torch_macs(model, data.input_shape),
        "state_dict_bytes": raw_size(model),
        "gzip_bytes": gzip_size(model),
        "val_accuracy": val_accuracy(model, data),
        "sparsity": overall,
        "sparsity_per_layer": per_layer,
        "channels": channel_report(model),
    }


def prune(
    model: nn.Module,
    cfg: PruneConfig,
    data: DataSplits,
    teacher_logits: np.ndarray,
    distill: DistillConfig,
    progress: ProgressFn | None = None,
) -> tuple[nn.Module, dict]:
    """Prune a copy of ``model`` as ``cfg`` says and fine-tune it under the KD loss.

    ``teacher_logits`` are the cached teacher outputs on ``data.train.x`` (never recomputed).
    Returns the pruned model (eval mode, masks made permanent) and a report with
    ``before``/``after`` params, MACs, gzip'd and raw state-dict bytes, val accuracy and
    sparsity per layer and global, plus the per-step schedule. ``method: none`` returns the
    model unchanged.
    """
    before = measure(model, data)
    if cfg.method == "none":
        return model, {"method": "none", "before": before, "after": before}
    check_teacher_logits(teacher_logits, data)
    pruned = copy.deepcopy(model)
    if cfg.method == "unstructured":
        pruned, details = prune_unstructured(pruned, cfg, data, teacher_logits, distill, progress)
    else:
        pruned, details = prune_structured(pruned, cfg, data, teacher_logits, distill, progress)
    pruned.eval()
    after = measure(pruned, data)
    report = {
        "method": cfg.method,
        "scope": cfg.scope,
        "importance": cfg.importance,
        "target_sparsity": cfg.sparsity,
        "before": before,
        "after": after,
        "params_ratio": after["params"] / max(before["params"], 1),
        "macs_ratio": after["macs"] / max(before["macs"], 1),
        "gzip_ratio": after["gzip_bytes"] / max(before["gzip_bytes"], 1),
        **details,
    }
    if cfg.method == "unstructured":
        report["note"] = SPEED_NOTE
    report.update(accuracy_guard(before["val_accuracy"], after["val_accuracy"], cfg))
    return pruned, report


def accuracy_guard(before: float, after: float, cfg: PruneConfig) -> dict[str, Any]:
    """The val accuracy pruning cost, in points, against ``cfg.max_accuracy_drop`` (the same
    semantics as the quantize guard's); a ``warning`` when it cost more."""
    drop = 100 * (before - after)
    out: dict[str, Any] = {"accuracy_drop_pp": drop, "max_accuracy_drop": cfg.max_accuracy_drop}
    if drop > cfg.max_accuracy_drop:
        out["warning"] = (
            f"pruning lost {drop:.2f} points of val accuracy ({100 * before:.2f}% -> "
            f"{100 * after:.2f}%), more than max_accuracy_drop={cfg.max_accuracy_drop:g}: "
            "prune less (sparsity), fine-tune longer (epochs), or start from a wider model"
        )
    return out
