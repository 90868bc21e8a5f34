"""Accuracy guard: quantize, measure on val with onnxruntime, and retry until the drop is small.

``max_accuracy_drop`` is in absolute percentage points against the float model's val accuracy
measured by onnxruntime. Fallbacks, in order, stopping at the first that meets the bar:

1. the requested configuration;
2. per-channel weight scales (Krishnamoorthi 2018 recommends per-channel for conv weights);
3. Entropy, then Percentile calibration (clip outliers instead of covering the full range);
4. leaving the most sensitive compute nodes in float. Sensitivity is measured one node at a
   time: the val accuracy with only that node excluded (as in onnxruntime's
   ``qdq_loss_debug`` per-node analysis, but end-to-end); nodes are excluded greedily, most
   helpful first.

Every attempt (its settings and val accuracy) is recorded. If none meets the bar the best one
is kept and ``StageError`` is raised, unless ``allow_degraded``.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgekd.errors import StageError
from edgekd.fileio import PART_SUFFIX, atomic_path
from edgekd.quantize.onnx_quant import COMPUTE_OPS, PtqSettings, load_model, quantize_file

MAX_SENSITIVE = 3  # at most this many nodes are left in float by the guard


def onnx_accuracy(path: str | Path, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy in percent of the ONNX file at ``path`` run by onnxruntime."""
    from edgekd.runtime.onnx import OnnxRunner

    logits = OnnxRunner(path).predict(x)
    return 100.0 * float(np.mean(logits.argmax(1) == y)) if len(y) else 0.0


def fallbacks(base: PtqSettings) -> list[PtqSettings]:
    """The requested settings, then per-channel, then Entropy and Percentile calibration."""
    replace = dataclasses.replace
    seq = [base]
    if base.method == "fp16":
        return seq
    if not base.per_channel:
        seq.append(replace(base, per_channel=True))
    if base.method == "static":
        for method in ("entropy", "percentile"):
            if method != base.calibration:
                seq.append(replace(base, per_channel=True, calibration=method))
    return seq


def guarded_quantize(
    src: str | Path,
    dst: str | Path,
    base: PtqSettings,
    calib: np.ndarray | None,
    val_x: np.ndarray,
    val_y: np.ndarray,
    max_drop: float | None,
    allow_degraded: bool = False,
) -> dict[str, Any]:
    """Quantize ``src`` to ``dst`` under the guard; returns attempts, choice and accuracies."""
    src, dst = Path(src), Path(dst)
    float_acc = onnx_accuracy(src, val_x, val_y)
    attempts: list[dict[str, Any]] = []
    # named like atomic_path's temporaries, so --resume cleans it up after a SIGKILL
    where = dst.parent if dst.parent.exists() else None
    with tempfile.TemporaryDirectory(prefix=f".{dst.name}.", suffix=PART_SUFFIX, dir=where) as tmp:

        def attempt(s: PtqSettings) -> dict[str, Any]:
            path = Path(tmp) / f"attempt{len(attempts)}.onnx"
            done = quantize_file(src, path, s, calib)
            acc = onnx_accuracy(path, val_x, val_y)
            rec = {**done, "val_accuracy": acc, "drop": float_acc - acc, "path": str(path)}
            rec["meets_bar"] = max_drop is None or rec["drop"] <= max_drop
            attempts.append(rec)
            return rec

        chosen = _search(base, attempt, src, max_drop)
        best = chosen or max(attempts, key=lambda a: a["val_accuracy"])
        with atomic_path(dst) as out:
            shutil.copyfile(best["path"], out)
    for a in attempts:
        a.pop("path")
    report = {
        "float_val_accuracy": float_acc,
        "quant_val_accuracy": best["val_accuracy"],
        "max_accuracy_drop": max_drop,
        "chosen": best["settings"],
        "met_bar": chosen is not None,
        "attempts": attempts,
        "warnings": best["warnings"],
    }
    if chosen is None and not allow_degraded:
        err = StageError(
            f"quantization drops val accuracy by {float_acc - best['val_accuracy']:.2f} points "
            f"(float {float_acc:.2f}%, best int8 {best['val_accuracy']:.2f}%) after "
            f"{len(attempts)} attempts; the bar is {max_drop} points. The best attempt was kept "
            f"at {dst}; set quantize.allow_degraded: true to accept it"
        )
        err.report = report  # type: ignore[attr-defined]
        raise err
    return report


def _search(
    base: PtqSettings,
    attempt: Callable[[PtqSettings], dict[str, Any]],
    src: Path,
    max_drop: float | None,
) -> dict[str, Any] | None:
    """Run the fallbacks in order; the first attempt meeting the bar, or None."""
    tried = []
    for s in fallbacks(base):
        rec = attempt(s)
        tried.append((s, rec))
        if rec["meets_bar"]:
            return rec
        if max_drop is None:
            return rec
    if base.method == "fp16":
        return None
    # sensitivity: accuracy with one compute node left in float, on the best settings so far
    best_s = max(tried, key=lambda t: t[1]["val_accuracy"])[0]
    model = load_model(src)
    candidates = [
        n.name
        for n in model.graph.node
        if n.op_type in COMPUTE_OPS and n.name not in base.exclude_nodes
    ]
    scores = []
    for name in candidates:
        rec = attempt(dataclasses.replace(best_s, exclude_nodes=(*best_s.exclude_nodes, name)))
        rec["sensitivity_probe"] = name
        if rec["meets_bar"]:
            return rec
        scores.append((rec["val_accuracy"], name))
    ranked = [name for _, name in sorted(scores, reverse=True)]
    for k in range(2, min(MAX_SENSITIVE, len(ranked)) + 1):
        rec = attempt(
            dataclasses.replace(best_s, exclude_nodes=(*best_s.exclude_nodes, *ranked[:k]))
        )
        if rec["meets_bar"]:
            return rec
    return None
