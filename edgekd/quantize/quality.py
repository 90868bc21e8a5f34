"""A label-free quality check: the quantized model's outputs against the float model's.

Per output, on held-out rows: max abs error, relative L2 error ``||q - f|| / ||f||``, cosine
similarity, and, for outputs that look like logits (a float output of rank >= 2 whose last
axis has >= 2 entries and which comes out of a classifier head: Softmax, LogSoftmax, Gemm,
MatMul or an Add after one of them), top-1 agreement along the last axis (the per-frame
decision of a CTC decoder, the class of a classifier). A quantized model passes when every
output stays within ``max_rel_l2`` and every logits output keeps ``min_top1`` agreement.
Relative L2 alone misses a collapse of log-probabilities (large, similar magnitudes), which
is why the top-1 check exists (see the CTC model in ``tests/corpus.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from edgekd.errors import ModelFileError, require

DEFAULT_MAX_REL_L2 = 0.1
DEFAULT_MIN_TOP1 = 0.95
HEADS = {"Softmax", "LogSoftmax", "Gemm", "MatMul", "QGemm", "QLinearMatMul"}
PASS_THROUGH = {"Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "DequantizeLinear",
                "QuantizeLinear", "Cast"}  # fmt: skip


def logit_outputs(model: Any) -> set[str]:
    """Names of the graph outputs that come out of a classifier head (see module doc)."""
    producer = {o: n for n in model.graph.node for o in n.output}
    found = set()
    for out in model.graph.output:
        node = producer.get(out.name)
        while node is not None and node.op_type in PASS_THROUGH and node.input:
            node = producer.get(node.input[0])
        if node is None:
            continue
        if node.op_type == "Add":
            src = [producer.get(i) for i in node.input]
            if not any(s is not None and s.op_type in HEADS for s in src):
                continue
        elif node.op_type not in HEADS:
            continue
        found.add(out.name)
    return found


def compare(
    ref: dict[str, np.ndarray], got: dict[str, np.ndarray], logits: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """Per-output metrics of ``got`` against ``ref`` (both output name -> array)."""
    logits = set(logits)
    out: dict[str, dict[str, Any]] = {}
    for name, f in ref.items():
        q = got[name]
        f64, q64 = np.asarray(f, np.float64), np.asarray(q, np.float64)
        if f64.shape != q64.shape:
            out[name] = {"max_abs": None, "rel_l2": None, "cosine": None, "top1": None,
                         "error": f"shape {q64.shape} vs float {f64.shape}"}  # fmt: skip
            continue
        diff = q64 - f64
        norm = float(np.linalg.norm(f64))
        rel = float(np.linalg.norm(diff)) / norm if norm > 0 else float(np.linalg.norm(diff))
        qn = float(np.linalg.norm(q64))
        cos = float(np.sum(f64 * q64) / (norm * qn)) if norm > 0 and qn > 0 else None
        top1 = None
        if name in logits and f64.ndim >= 2 and f64.shape[-1] >= 2:
            top1 = float(np.mean(f64.argmax(-1) == q64.argmax(-1)))
        out[name] = {
            "max_abs": float(np.max(np.abs(diff))) if diff.size else 0.0,
            "rel_l2": rel,
            "cosine": cos,
            "top1": top1,
        }
    return out


def failures(
    metrics: dict[str, dict[str, Any]], max_rel_l2: float | None, min_top1: float | None
) -> list[str]:
    """One line per output that misses a threshold, naming the output and its error."""
    lines = []
    for name, m in metrics.items():
        if m.get("error"):
            lines.append(f"output {name!r}: {m['error']}")
            continue
        why = []
        if max_rel_l2 is not None and m["rel_l2"] > max_rel_l2:
            why.append(f"relative L2 error {m['rel_l2']:.3g} > {max_rel_l2:g}")
        if min_top1 is not None and m["top1"] is not None and m["top1"] < min_top1:
            why.append(f"top-1 agreement {m['top1']:.3f} < {min_top1:g}")
        if why:
            lines.append(f"output {name!r}: " + ", ".join(why) + f" (max abs {m['max_abs']:.3g})")
    return lines


def worst(metrics: dict[str, dict[str, Any]]) -> float:
    """A single badness score for ranking attempts: the largest relative L2 error plus the
    largest top-1 disagreement (both 0 for a perfect copy)."""
    rel = max((m["rel_l2"] for m in metrics.values() if m.get("rel_l2") is not None), default=1.0)
    miss = max((1 - m["top1"] for m in metrics.values() if m.get("top1") is not None), default=0)
    bad = any(m.get("error") for m in metrics.values())
    return float("inf") if bad else float(rel + miss)


def run_onnx(path: str | Path, feeds: Iterable[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Every output of the ONNX file for every feed, concatenated along axis 0."""
    ort = require("onnxruntime", "onnx")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        sess = ort.InferenceSession(
            str(path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:
        raise ModelFileError(f"{path}: onnxruntime cannot load it: {_first(exc)}") from None
    names = [o.name for o in sess.get_outputs()]
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for feed in feeds:
        for n, v in zip(names, sess.run(None, feed), strict=True):
            parts[n].append(np.atleast_1d(np.asarray(v)))
    return {n: np.concatenate(v) for n, v in parts.items() if v}


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:400] if text else type(exc).__name__
