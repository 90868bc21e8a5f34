"""Did quantization make it faster? Count which compute nodes run int8 and time both files.

A compute node (Conv, MatMul, Gemm...) runs int8 when it is an integer op (``QLinearConv``,
``ConvInteger``, ``MatMulInteger``...) or a float op whose activation and weight inputs both come
from ``DequantizeLinear`` (the QDQ pattern onnxruntime fuses into an int8 kernel, see its
``qdq_quantizer`` and "QDQ format" docs). Everything else stays float.

Expected speedup is Amdahl's law (Amdahl 1967) over MACs: with a share ``f`` of MACs in int8
and an int8 kernel ``k`` times faster than float, ``1 / ((1 - f) + f / k)``. We report k = 2
and k = 4, the range of int8-over-fp32 CPU speedups in Jacob et al. 2018 ("Quantization and
Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference", ~2-3x on ARM)
and Krishnamoorthi 2018 ("Quantizing deep convolutional networks for efficient inference: A
whitepaper", 2-4x). Tiny models are dominated by per-op overhead and Q/DQ conversions, so the
measured host number can be well below this, or below 1.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from edgekd.errors import require
from edgekd.quantize.onnx_quant import COMPUTE_OPS

INT8_COMPUTE = frozenset(
    {
        "QLinearConv",
        "QLinearMatMul",
        "QGemm",
        "ConvInteger",
        "MatMulInteger",
        "MatMulIntegerToFloat",
        "DynamicQuantizeMatMul",
    }
)
KERNEL_FACTORS = (2.0, 4.0)


def node_macs_by_name(
    path: str | Path, input_shapes: dict[str, list[int]] | None
) -> dict[str, int]:
    """MACs of every op by node name, from edgekd's static analysis at ``input_shapes`` (empty
    when the model has symbolic dims that were not given)."""
    from edgekd.errors import UsageError
    from edgekd.profile.static import analyze

    try:
        summary = analyze(path, input_shapes)
    except UsageError:
        return {}
    return {op.name: op.macs for op in summary.ops}


def classify_nodes(
    path: str | Path, input_shapes: dict[str, list[int]] | None = None
) -> dict[str, Any]:
    """int8 vs float compute nodes and their share of MACs for the ONNX file at ``path``
    (MACs at ``input_shapes``; symbolic batch dims count as 1)."""
    onnx = require("onnx", "onnx")
    model = onnx.load(str(path))
    macs = node_macs_by_name(path, input_shapes)
    producer = {o: n.op_type for n in model.graph.node for o in n.output}
    nodes = []
    for n in model.graph.node:
        if n.op_type in INT8_COMPUTE:
            kind = "int8"
        elif n.op_type in COMPUTE_OPS:
            inputs = [producer.get(i) for i in n.input[:2]]
            kind = "int8" if inputs == ["DequantizeLinear"] * 2 else "float"
        else:
            continue
        nodes.append({"name": n.name, "op": n.op_type, "kind": kind, "macs": macs.get(n.name, 0)})
    int8_macs = sum(n["macs"] for n in nodes if n["kind"] == "int8")
    total = sum(n["macs"] for n in nodes)
    share = int8_macs / total if total else 0.0
    return {
        "int8_nodes": sum(n["kind"] == "int8" for n in nodes),
        "float_nodes": sum(n["kind"] == "float" for n in nodes),
        "int8_mac_share": share,
        "expected_speedup": {f"k={k:g}": amdahl(share, k) for k in KERNEL_FACTORS},
        "nodes": nodes,
    }


def runtime_ops(path: str | Path) -> dict[str, int]:
    """Compute ops after onnxruntime's CPU graph fusions (what really runs): int8 vs float.

    onnxruntime fuses ``DQ -> Conv -> Q`` into ``QLinearConv`` and so on; a QDQ pattern it
    cannot fuse runs as float compute on dequantized tensors.
    """
    import tempfile

    ort = require("onnxruntime", "onnx")
    onnx = require("onnx", "onnx")
    with tempfile.TemporaryDirectory() as tmp:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        opts.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        ops = [n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node]
    return {
        "int8": sum(op in INT8_COMPUTE for op in ops),
        "float": sum(op in COMPUTE_OPS or op == "FusedConv" or op == "FusedGemm" for op in ops),
    }


def amdahl(share: float, factor: float) -> float:
    """Amdahl's law: overall speedup when ``share`` of the work runs ``factor`` times faster."""
    return 1.0 / ((1.0 - share) + share / factor)


Feed = np.ndarray | dict[str, np.ndarray]


def host_latency_ms(
    path: str | Path, x: Feed, threads: int | None, repeats: int = 50, warmup: int = 5
) -> float:
    """Median onnxruntime latency (ms) of one feed on this host (``x``: the arrays by input
    name, or one array for a single-input model)."""
    ort = require("onnxruntime", "onnx")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    feed = x if isinstance(x, dict) else {sess.get_inputs()[0].name: x.astype(np.float32)}
    for _ in range(warmup):
        sess.run(None, feed)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


def measured_speedup(
    float_path: str | Path, quant_path: str | Path, x: Feed, repeats: int = 50
) -> dict[str, Any]:
    """Host latency of both files at 1 thread and at all threads (onnxruntime default)."""
    out: dict[str, Any] = {}
    for label, threads in (("1_thread", 1), ("all_threads", None)):
        f = host_latency_ms(float_path, x, threads, repeats)
        q = host_latency_ms(quant_path, x, threads, repeats)
        out[label] = {"float_ms": f, "quant_ms": q, "speedup": f / q if q > 0 else None}
    first = next(iter(x.values())) if isinstance(x, dict) else x
    out["batch_size"] = int(first.shape[0]) if first.ndim else 1
    return out


def speedup_report(
    float_path: str | Path, quant_path: str | Path, x: np.ndarray | None = None, repeats: int = 50
) -> dict[str, Any]:
    """Node counts, expected (Amdahl) and, given a sample batch ``x``, measured speedups."""
    report = classify_nodes(quant_path)
    report["runtime_ops"] = runtime_ops(quant_path)
    if x is not None:
        report["measured"] = measured_speedup(float_path, quant_path, x, repeats)
    return report
