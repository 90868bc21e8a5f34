"""Profile and quantize model files other toolchains make, side by side with the defaults.

    python benchmarks/real_files.py [--quick] [--json PATH]

Builds the corpus of ``tests/corpus.py`` (from code, nothing downloaded: a detector with
symbolic N/H/W, Constant-node weights, If branches, an LSTM, an opset-11 CNN, a CTC-style
recognizer with an outlier feature, a stateful 3-input model, a fixed-batch-1 CNN, an
embedding model with int64 inputs, float TFLite files) and reports per model:

- params and MACs from edgekd's static analysis at the shapes used, next to an independent
  MAC count from the shapes onnxruntime actually executes, or LiteRT allocates
  (``profile.crosscheck``);
- edgekd's quantization (``edgekd.quantize``, default settings, the label-free guard) next
  to what a user would otherwise run: onnxruntime's ``quantize_static`` with its defaults
  (QDQ, int8 activations and weights, MinMax, per-tensor) on the same calibration rows, and
  for TFLite ai-edge-quantizer's ``static_wi8_ai8`` recipe with its own calibration;
- for each: file bytes, whether the file loads and runs, the worst output error on held-out
  rows (relative L2, top-1 agreement for logits) and latency at batch 1, one thread.

The verdict column says whether edgekd is no worse than the default on error (within 2%
of the default's relative L2 error) and speed (within timing noise, 15%), or repairs or
refuses where the default silently breaks (a file that does not run, relative L2 error above
0.1 or top-1 agreement below 0.95). Latency is timed at the profiled shapes (the detector at
640x640). Timings on a shared 2-core machine are noisy.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import parse_args, print_table, write_json  # noqa: E402

import edgekd  # noqa: E402
from edgekd.errors import EdgekdError  # noqa: E402
from edgekd.profile.crosscheck import executed_macs, tflite_executed_macs  # noqa: E402
from edgekd.profile.static import analyze  # noqa: E402
from edgekd.quantize.config import QuantizeConfig  # noqa: E402
from edgekd.quantize.quality import compare, logit_outputs, run_onnx  # noqa: E402
from edgekd.quantize.signature import as_samples, split_rows  # noqa: E402
from edgekd.quantize.speedup import host_latency_ms  # noqa: E402
from tests.corpus import CorpusModel, build  # noqa: E402

ONNX_CASES = [  # (corpus model, extra settings for edgekd, settings for the default)
    ("detector", {}, {}),
    ("constant_weights", {}, {}),
    ("if_branches", {}, {}),
    ("lstm", {}, {}),
    ("opset11_cnn", {}, {}),
    ("opset11_cnn", {"per_channel": True}, {"per_channel": True}),
    ("ctc_recognizer", {}, {}),
    ("stateful", {"calib_samples": 32}, {}),
    ("fixed_batch", {}, {}),
    ("token_classifier", {}, {}),
]
TFLITE_CASES = ["tflite_mlp", "tflite_mlp_fp16"]
BAR_REL_L2, BAR_TOP1, NOISE = 0.1, 0.95, 0.15
ERROR_TIE = 0.02  # relative L2 errors within 2% of each other are the same error


def worst(metrics: dict[str, dict[str, Any]]) -> tuple[float, float | None]:
    rel = max(m["rel_l2"] for m in metrics.values())
    top1 = [m["top1"] for m in metrics.values() if m["top1"] is not None]
    return rel, (min(top1) if top1 else None)


def broken(rel: float, top1: float | None) -> bool:
    return rel > BAR_REL_L2 or (top1 is not None and top1 < BAR_TOP1)


def ort_default(m: CorpusModel, out: Path, calib_rows: Any, per_channel: bool) -> str | None:
    """onnxruntime's quantize_static with its defaults; None, or why it failed."""
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = calib_rows.feeds(1 if not calib_rows.batched else 32)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.it, None)

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            quantize_static(str(m.path), str(out), Reader(), per_channel=per_channel)
    except Exception as exc:
        return f"quantize_static failed: {str(exc).splitlines()[0][:80]}"
    return None


def measure(path: Path, held: Any, ref: dict[str, np.ndarray], logits: set[str],
            feed: dict[str, np.ndarray], repeats: int) -> dict[str, Any]:  # fmt: skip
    """Bytes, output error vs float on held-out rows and batch-1 one-thread latency."""
    try:
        got = run_onnx(path, held.feeds())
    except EdgekdError as exc:
        return {"bytes": path.stat().st_size, "runs": False, "error": str(exc)[:120]}
    rel, top1 = worst(compare(ref, got, logits))
    return {
        "bytes": path.stat().st_size, "runs": True, "rel_l2": rel, "top1": top1,
        "ms": host_latency_ms(path, feed, threads=1, repeats=repeats),
    }  # fmt: skip


def onnx_case(name: str, ours: dict, theirs: dict, work: Path, repeats: int) -> dict[str, Any]:
    from edgekd.profile.shapes import onnx_inputs
    from edgekd.quantize.onnx_quant import load_model

    m = build(name, work / "corpus")
    label = name + (" --per-channel" if ours.get("per_channel") else "")
    row: dict[str, Any] = {"model": label, "defect": m.defect}
    s = analyze(m.path, m.input_shapes or None)
    row.update(params=s.params, macs=s.macs, shapes=s.input_shapes)
    row["macs_executed"] = executed_macs(m.path, m.feeds)["macs"]
    model = load_model(m.path)
    samples = as_samples(m.calib, onnx_inputs(model), "calib")
    cfg = QuantizeConfig(method="static", **ours)
    cal, held, _ = split_rows(samples, cfg.calib_samples, None)
    ref = run_onnx(m.path, held.feeds())
    logits = logit_outputs(model)
    feed = m.feeds  # one row at the profiled shapes (the detector: 640x640)
    row["fp32"] = {"bytes": m.path.stat().st_size,
                   "ms": host_latency_ms(m.path, feed, threads=1, repeats=repeats)}  # fmt: skip
    d_out = work / f"{label}.default.onnx"
    failed = ort_default(m, d_out, cal, theirs.get("per_channel", False))
    row["default"] = (
        {"runs": False, "error": failed}
        if failed
        else measure(d_out, held, ref, logits, feed, repeats)
    )
    e_out = work / f"{label}.edgekd.onnx"
    t0 = time.perf_counter()
    try:
        rep = edgekd.quantize(m.path, e_out, cfg, calib=m.calib)
        row["edgekd"] = measure(e_out, held, ref, logits, feed, repeats)
        nodes = {"int8_nodes": rep["int8_nodes"], "float_nodes": rep["float_nodes"]}
        row["edgekd"].update(attempts=len(rep["attempts"]), chosen=rep["chosen"], **nodes)
    except EdgekdError as exc:
        row["edgekd"] = {"refused": True, "exit_code": exc.exit_code, "message": str(exc)[:300]}
    row["edgekd"]["seconds"] = time.perf_counter() - t0
    row["verdict"] = verdict(row["default"], row["edgekd"])
    return row


def verdict(default: dict[str, Any], ours: dict[str, Any]) -> str:
    d_broken = not default.get("runs") or broken(default["rel_l2"], default["top1"])
    if ours.get("refused"):
        return "refuses; default breaks" if d_broken else "REFUSES A WORKING MODEL"
    if broken(ours["rel_l2"], ours["top1"]):
        return "BROKEN"
    if d_broken:
        return "repairs; default breaks"
    error_ok = ours["rel_l2"] <= default["rel_l2"] * (1 + ERROR_TIE) + 1e-6 and (
        ours["top1"] is None or ours["top1"] >= default["top1"] - 1e-9
    )
    speed_ok = ours["ms"] <= default["ms"] * (1 + NOISE)
    return {(True, True): "no worse", (True, False): "slower", (False, True): "more error"}.get(
        (error_ok, speed_ok), "WORSE"
    )


def tflite_case(name: str, work: Path, repeats: int) -> dict[str, Any]:
    from ai_edge_quantizer import quantizer, recipe

    from edgekd.quantize.tflite_quant import TfliteModel, _quiet

    m = build(name, work / "corpus")
    row: dict[str, Any] = {"model": name, "defect": m.defect}
    s = analyze(m.path)
    row.update(params=s.params, macs=s.macs, shapes=s.input_shapes)
    row["macs_executed"] = tflite_executed_macs(m.path)["macs"]
    float_model = TfliteModel(m.path)
    samples = as_samples(m.calib, float_model.specs(), "calib")
    cal, held, _ = split_rows(samples, 128, None)
    ref = float_model.run(held)

    def tfl_measure(path: Path) -> dict[str, Any]:
        q = TfliteModel(path)
        rel, top1 = worst(compare(ref, q.run(held), {"logits"}))
        one = held.take(slice(0, 1))
        t = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            q.run(one)
            t.append((time.perf_counter() - t0) * 1e3)
        return {"bytes": path.stat().st_size, "runs": True, "rel_l2": rel, "top1": top1,
                "ms": float(np.median(t))}  # fmt: skip

    row["fp32"] = {"bytes": m.path.stat().st_size}
    d_out = work / f"{name}.default.tflite"
    try:
        with _quiet():
            qt = quantizer.Quantizer(str(m.path))
            qt.load_quantization_recipe(recipe.static_wi8_ai8())
            result = qt.quantize(qt.calibrate({float_model.key: list(cal.feeds(1))}))
        d_out.write_bytes(bytes(result.quantized_model))
        row["default"] = tfl_measure(d_out)
    except Exception as exc:
        row["default"] = {"runs": False, "error": str(exc).splitlines()[0][:120]}
    e_out = work / f"{name}.edgekd.tflite"
    t0 = time.perf_counter()
    try:
        rep = edgekd.quantize(m.path, e_out, QuantizeConfig(method="static"), calib=m.calib)
        row["edgekd"] = tfl_measure(e_out)
        row["edgekd"].update(attempts=len(rep["attempts"]), chosen=rep["chosen"])
    except EdgekdError as exc:
        row["edgekd"] = {"refused": True, "exit_code": exc.exit_code, "message": str(exc)[:300]}
    row["edgekd"]["seconds"] = time.perf_counter() - t0
    row["verdict"] = verdict(row["default"], row["edgekd"])
    return row


def _cells(r: dict[str, Any]) -> list[Any]:
    def q(side: dict[str, Any]) -> str:
        if side.get("refused"):
            return f"refused (exit {side['exit_code']})"
        if not side.get("runs"):
            return "does not run"
        top1 = "" if side["top1"] is None else f" / {side['top1']:.3f}"
        return f"{side['bytes']} B, {side['rel_l2']:.3g}{top1}, {side['ms']:.3g} ms"

    fp32 = r["fp32"]
    xc = "-" if r["macs_executed"] is None else f"{r['macs_executed']:,}"
    shapes = " ".join(f"{k}={'x'.join(map(str, v)) or 'scalar'}" for k, v in r["shapes"].items())
    base = f"{fp32['bytes']} B" + (f", {fp32['ms']:.3g} ms" if "ms" in fp32 else "")
    return [r["model"], f"{r['params']:,}", f"{r['macs']:,}", xc, shapes, base, q(r["default"]),
            q(r["edgekd"]), r["verdict"]]  # fmt: skip


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    logging.getLogger().setLevel(logging.ERROR)
    repeats = 20 if args.quick else 100
    cases = ONNX_CASES if not args.quick else [c for c in ONNX_CASES if c[0] != "detector"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, ours, theirs in cases:
            rows.append(onnx_case(name, ours, theirs, work, repeats))
            print(f"  {rows[-1]['model']}: {rows[-1]['verdict']}", flush=True)
        for name in TFLITE_CASES:
            rows.append(tflite_case(name, work, repeats))
            print(f"  {rows[-1]['model']}: {rows[-1]['verdict']}", flush=True)
    header = ["model", "params", "MACs (edgekd)", "MACs (executed)", "shapes", "fp32",
              "default int8: size, rel L2 / top-1, ms", "edgekd: size, rel L2 / top-1, ms",
              "verdict"]  # fmt: skip
    print_table(
        "real model files: static int8, batch 1, one thread", header, [_cells(r) for r in rows]
    )
    bar = {"rel_l2": BAR_REL_L2, "top1": BAR_TOP1}
    payload = {"benchmark": "real_files", "quick": args.quick, "rows": rows, "bar": bar}
    write_json(args.json, {**payload, "noise": NOISE})


if __name__ == "__main__":
    main()
