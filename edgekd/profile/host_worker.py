"""Host benchmark worker, run in its own process by ``measure.py`` so that its peak RSS is
the model's and a crashing runtime cannot take the caller down.

``python -m edgekd.profile.host_worker MODEL --threads N --runs R --warmup W --max-seconds S
[--input-shape NAME=D,D,...]...`` prints one JSON object. It times at least ``runs``
inferences unless ``max-seconds`` pass first (at least 10 runs either way), after ``warmup``
untimed ones.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable

import numpy as np

ORT_TYPES = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(int32)": np.int32,
    "tensor(int64)": np.int64, "tensor(bool)": np.bool_,
}  # fmt: skip


def _random(shape: list[int], dtype: np.dtype, rng: np.random.Generator) -> np.ndarray:
    if np.issubdtype(dtype, np.floating):
        return rng.standard_normal(shape).astype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    return rng.integers(0, 8, shape).astype(dtype)


def _onnx_runner(path: str, threads: int, shapes: dict[str, list[int]]) -> Callable[[], object]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {}
    for inp in sess.get_inputs():
        declared = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
        shape = shapes.get(inp.name) or declared
        feeds[inp.name] = _random(shape, np.dtype(ORT_TYPES.get(inp.type, np.float32)), rng)
    return lambda: sess.run(None, feeds)


def _tflite_runner(path: str, threads: int, shapes: dict[str, list[int]]) -> Callable[[], object]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=path, num_threads=threads)
    for d in interp.get_input_details():
        if d["name"] in shapes and list(d["shape"]) != shapes[d["name"]]:
            interp.resize_tensor_input(d["index"], shapes[d["name"]], strict=False)
    interp.allocate_tensors()
    rng = np.random.default_rng(0)
    for d in interp.get_input_details():
        interp.set_tensor(d["index"], _random(list(d["shape"]), np.dtype(d["dtype"]), rng))
    return interp.invoke


def peak_rss_bytes() -> int:
    """Peak resident set of this process: ``VmHWM`` from /proc (reset by exec, unlike
    ``ru_maxrss``, which Linux carries over from the forking parent), else ru_maxrss."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run(
    path: str,
    fmt: str,
    threads: int,
    runs: int,
    warmup: int,
    max_seconds: float,
    shapes: dict[str, list[int]] | None = None,
) -> dict:
    rss_before = peak_rss_bytes()
    make = _tflite_runner if fmt == "tflite" else _onnx_runner
    step = make(path, threads, shapes or {})
    for _ in range(warmup):
        step()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < runs:
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
        if time.perf_counter() - start > max_seconds and len(times) >= 10:
            break
    p50, p90, p99 = np.percentile(times, [50, 90, 99])
    return {
        "runtime": "litert" if fmt == "tflite" else "onnxruntime",
        "input_shapes": shapes or {},
        "latency_ms": {"p50": float(p50), "p90": float(p90), "p99": float(p99)},
        "mean_ms": float(np.mean(times)),
        "runs": len(times),
        "warmup": warmup,
        "threads": threads,
        "peak_rss_bytes": peak_rss_bytes(),
        "rss_before_load_bytes": rss_before,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--format", choices=["onnx", "tflite"], required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--max-seconds", type=float, default=20.0)
    ap.add_argument("--input-shape", action="append", default=[])
    a = ap.parse_args(argv)
    try:
        shapes = {}
        for item in a.input_shape:
            name, _, dims = item.rpartition("=")
            shapes[name] = [int(d) for d in dims.split(",")]
        out = run(a.model, a.format, a.threads, a.runs, a.warmup, a.max_seconds, shapes)
    except Exception as exc:  # reported to the parent as data, not a traceback
        out = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
