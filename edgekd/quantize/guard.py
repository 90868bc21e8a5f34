"""Quality guard: quantize, compare with the float model, retry until the result is good.

Two signals decide whether an attempt is good enough:

- with labelled validation rows, the task metric: top-1 accuracy measured by the runtime, at
  most ``max_accuracy_drop`` points below the float model's;
- without labels (any model: detectors, recognizers, stateful models), the outputs
  themselves on held-out rows (``quality``): relative L2 error at most ``max_output_error``
  and, for logits-like outputs, top-1 agreement at least ``min_top1_agreement``. Thresholds
  given explicitly apply with labels too.

Fallbacks, in order, stopping at the first attempt that meets the bar:

1. the requested configuration;
2. per-channel weight scales (Krishnamoorthi 2018 recommends per-channel for conv weights);
3. Entropy, then Percentile calibration (clip outliers instead of covering the full range);
4. leaving sensitive compute nodes in float. Sensitivity is measured end to end, one probe at
   a time (as onnxruntime's ``qdq_loss_debug`` per-node analysis, but on the final outputs):
   each compute node alone, and each pair of a compute node and the next one downstream (a
   tensor stays float only when its producer and its consumer do); then the most helpful
   probes are combined, greedily.

An attempt that produces the same model as an earlier one (e.g. Entropy calibration that
returns MinMax's ranges) is skipped and says so: it cannot change the outcome. Every attempt
is recorded. If none meets the bar the best is kept and ``StageError`` (exit 1) names the
output and its error, unless ``allow_degraded``.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgekd.errors import EdgekdError, StageError, UsageError
from edgekd.fileio import atomic_path
from edgekd.quantize import quality
from edgekd.quantize.signature import Samples

MAX_SENSITIVE = 3  # at most this many probes are combined
MAX_PROBES = 24  # sensitivity probes per model (the most damaged nodes first)


@dataclass(frozen=True)
class Bar:
    """What 'good enough' means for one guard run."""

    max_drop: float | None = 1.0  # accuracy points, with labels
    max_rel_l2: float | None = quality.DEFAULT_MAX_REL_L2  # per output
    min_top1: float | None = quality.DEFAULT_MIN_TOP1  # per logits-like output

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_accuracy_drop": self.max_drop,
            "max_output_error": self.max_rel_l2,
            "min_top1_agreement": self.min_top1,
        }


class Backend(Protocol):
    """What the guard needs from a format (ONNX: ``onnx_backend``; TFLite: ``tflite_quant``)."""

    def quantize(self, settings: Any, dst: Path) -> dict[str, Any]: ...

    def run(self, path: Path, samples: Samples) -> dict[str, np.ndarray]: ...

    def fallbacks(self, base: Any) -> list[Any]: ...

    def probes(self, settings: Any) -> list[tuple[str, ...]]: ...

    def exclude(self, settings: Any, nodes: tuple[str, ...]) -> Any: ...

    def fingerprint(self, path: Path) -> str: ...

    def settings_dict(self, settings: Any) -> dict[str, Any]: ...


@dataclass
class Judge:
    """Scores one quantized file against the float model on held-out rows (and labels)."""

    backend: Backend
    held_out: Samples
    reference: dict[str, np.ndarray]
    logits: set[str]
    bar: Bar
    labels: np.ndarray | None = None
    float_accuracy: float | None = None
    output_bar_with_labels: bool = False

    def __call__(self, path: Path) -> dict[str, Any]:
        got = self.backend.run(path, self.held_out)
        metrics = quality.compare(self.reference, got, self.logits)
        rec: dict[str, Any] = {"outputs": metrics}
        use_outputs = self.labels is None or self.output_bar_with_labels
        fails = quality.failures(metrics, self.bar.max_rel_l2, self.bar.min_top1)
        rec["output_failures"] = fails
        ok = not fails if use_outputs else True
        if self.labels is not None:
            acc = accuracy(got[next(iter(self.reference))], self.labels)
            rec["val_accuracy"] = acc
            rec["drop"] = (self.float_accuracy or 0.0) - acc
            if self.bar.max_drop is not None and rec["drop"] > self.bar.max_drop:
                ok = False
        rec["meets_bar"] = ok
        return rec

    def score(self, rec: dict[str, Any]) -> float:
        """Higher is better: accuracy when there are labels, else the negated output error."""
        if "skipped" in rec or "error" in rec:
            return -np.inf
        badness = quality.worst(rec["outputs"])
        if self.labels is not None:
            return float(rec["val_accuracy"]) - 1e-3 * min(badness, 1e3)
        return -badness


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy in percent of (N, C) logits against labels ``y``."""
    return 100.0 * float(np.mean(logits.argmax(-1) == y)) if len(y) else 0.0


def guard(
    backend: Backend,
    base: Any,
    dst: Path,
    judge: Judge,
    allow_degraded: bool = False,
) -> dict[str, Any]:
    """Search the fallbacks for an attempt meeting ``judge.bar``; write the chosen one."""
    attempts: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    dst = Path(dst)
    with tempfile.TemporaryDirectory(prefix="edgekd-guard-") as tmp:

        def attempt(settings: Any, first: bool = False) -> dict[str, Any]:
            path = Path(tmp) / f"attempt{len(attempts)}{dst.suffix}"
            rec: dict[str, Any] = {"settings": backend.settings_dict(settings)}
            try:
                rec.update(backend.quantize(settings, path))
            except EdgekdError as exc:
                if first:
                    raise
                rec.update(error=str(exc).replace(str(path), f"attempt {len(attempts)}"))
                rec["meets_bar"] = False
                attempts.append(rec)
                return rec
            fp = backend.fingerprint(path)
            rec["fingerprint"] = fp[:16]
            if fp in seen:
                rec["skipped"] = (
                    f"same model as attempt {seen[fp]} (identical weights, scales and zero "
                    "points): it cannot change the result"
                )
                rec["meets_bar"] = False
            else:
                seen[fp] = len(attempts)
                rec.update(judge(path))
                rec["path"] = str(path)
            attempts.append(rec)
            return rec

        chosen = search(backend, base, attempt)
        scored = [a for a in attempts if "path" in a]
        best = chosen or max(scored, key=judge.score)
        with atomic_path(dst) as out:
            shutil.copyfile(best["path"], out)
    for a in attempts:
        a.pop("path", None)
    report: dict[str, Any] = {
        "float_val_accuracy": judge.float_accuracy,
        "quant_val_accuracy": best.get("val_accuracy"),
        "max_accuracy_drop": judge.bar.max_drop,
        "bar": judge.bar.to_dict(),
        "chosen": best["settings"],
        "met_bar": chosen is not None,
        "attempts": attempts,
        "outputs": best["outputs"],
        "warnings": best.get("warnings", []),
    }
    if chosen is None and not allow_degraded:
        err = StageError(_refusal(best, judge, len(attempts), dst))
        err.report = report  # type: ignore[attr-defined]
        raise err
    return report


def _refusal(best: dict[str, Any], judge: Judge, n: int, dst: Path) -> str:
    what = []
    if judge.labels is not None and "drop" in best and judge.bar.max_drop is not None:
        if best["drop"] > judge.bar.max_drop:
            what.append(
                f"val accuracy drops by {best['drop']:.2f} points (float "
                f"{judge.float_accuracy:.2f}%, best {best['val_accuracy']:.2f}%; the bar is "
                f"{judge.bar.max_drop} points)"
            )
    if judge.labels is None or judge.output_bar_with_labels:
        what += best["output_failures"]
    return (
        f"quantization breaks the model: {'; '.join(what)} on {len(judge.held_out)} held-out "
        f"rows, after {n} attempts. The best attempt was kept at {dst}; pass "
        "--allow-degraded (quantize.allow_degraded: true) to accept it"
    )


def search(
    backend: Backend, base: Any, attempt: Callable[..., dict[str, Any]]
) -> dict[str, Any] | None:
    """Run the fallbacks, then the sensitivity probes; the first attempt meeting the bar."""
    tried: list[tuple[Any, dict[str, Any]]] = []
    for k, s in enumerate(backend.fallbacks(base)):
        rec = attempt(s, first=k == 0)
        tried.append((s, rec))
        if rec["meets_bar"]:
            return rec
    scored = [(s, r) for s, r in tried if "outputs" in r]
    if not scored:
        return None
    best_s = max(scored, key=lambda t: _rank(t[1]))[0]
    probes = backend.probes(best_s)[:MAX_PROBES]
    results = []
    for nodes in probes:
        rec = attempt(backend.exclude(best_s, nodes))
        rec["sensitivity_probe"] = list(nodes)
        if rec["meets_bar"]:
            return rec
        if "outputs" in rec:
            results.append((_rank(rec), nodes))
    ranked = [nodes for _, nodes in sorted(results, key=lambda t: t[0], reverse=True)]
    for k in range(2, min(MAX_SENSITIVE, len(ranked)) + 1):
        union = tuple(dict.fromkeys(n for nodes in ranked[:k] for n in nodes))
        rec = attempt(backend.exclude(best_s, union))
        if rec["meets_bar"]:
            return rec
    return None


def _rank(rec: dict[str, Any]) -> float:
    """Ordering of attempts by quality (accuracy first when measured, then output error)."""
    acc = rec.get("val_accuracy")
    bad = quality.worst(rec["outputs"]) if "outputs" in rec else np.inf
    return (acc if acc is not None else 0.0) - 1e-3 * min(bad, 1e3)


# --- ONNX ------------------------------------------------------------------------------


@dataclass
class OnnxBackend:
    """The guard's view of onnxruntime quantization of one ONNX file."""

    src: Path
    calib: Samples
    check_feed: dict[str, np.ndarray] | None = None

    def quantize(self, settings: Any, dst: Path) -> dict[str, Any]:
        from edgekd.quantize.onnx_quant import quantize_file

        return quantize_file(self.src, dst, settings, self.calib, self.check_feed)

    def run(self, path: Path, samples: Samples) -> dict[str, np.ndarray]:
        return quality.run_onnx(path, samples.feeds())

    def fallbacks(self, base: Any) -> list[Any]:
        return fallbacks(base)

    def probes(self, settings: Any) -> list[tuple[str, ...]]:
        from edgekd.quantize.onnx_quant import load_model

        return probe_sets(load_model(self.src), settings)

    def exclude(self, settings: Any, nodes: tuple[str, ...]) -> Any:
        return dataclasses.replace(settings, exclude_nodes=(*settings.exclude_nodes, *nodes))

    def fingerprint(self, path: Path) -> str:
        from edgekd.quantize.onnx_quant import fingerprint

        return fingerprint(path)

    def settings_dict(self, settings: Any) -> dict[str, Any]:
        return dict(settings.to_dict())


def fallbacks(base: Any) -> list[Any]:
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


def probe_sets(model: Any, settings: Any) -> list[tuple[str, ...]]:
    """Compute nodes alone, then each with the next compute node downstream."""
    from edgekd.quantize.onnx_quant import COMPUTE_OPS

    if settings.method == "fp16":
        return []
    nodes = [n for n in model.graph.node if n.op_type in COMPUTE_OPS and n.name]
    nodes = [n for n in nodes if n.name not in settings.exclude_nodes]
    consumers: dict[str, list[Any]] = {}
    for n in model.graph.node:
        for t in n.input:
            consumers.setdefault(t, []).append(n)
    singles: list[tuple[str, ...]] = [(n.name,) for n in nodes]
    pairs: list[tuple[str, ...]] = []
    for n in nodes:
        for nxt in _next_compute(n, consumers, COMPUTE_OPS):
            if nxt.name and nxt.name not in settings.exclude_nodes:
                pairs.append((n.name, nxt.name))
    return singles + pairs


def _next_compute(node: Any, consumers: dict[str, list[Any]], compute: frozenset) -> list[Any]:
    """Compute nodes reached from ``node``'s outputs through non-compute nodes."""
    found, stack, seen = [], list(node.output), set()
    while stack:
        t = stack.pop()
        for c in consumers.get(t, []):
            if id(c) in seen:
                continue
            seen.add(id(c))
            if c.op_type in compute:
                found.append(c)
            else:
                stack.extend(c.output)
    return found


def float_reference(backend: Backend, src: Path, held_out: Samples) -> dict[str, np.ndarray]:
    """The float model's outputs on the held-out rows (what every attempt is compared with)."""
    try:
        return backend.run(src, held_out)
    except EdgekdError:
        raise
    except Exception as exc:
        raise UsageError(f"{src}: the float model does not run on the given data: {exc}") from None
