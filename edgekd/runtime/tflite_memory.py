"""Which tensors are live when a .tflite model's activation memory peaks, op by op.

A tensor without constant data lives from the op that writes it (the start, for graph
inputs) to the last op that reads it (the end, for graph outputs). At each op the live
bytes are summed; the op where the sum peaks, and the tensors live there with the ops that
produce and consume them, say which layers to shrink when a model does not fit the RAM.
This is the lower bound TFLM's ``GreedyMemoryPlanner`` packs toward; the arena TFLM really
needs is measured by ``edgekd.runtime.tflm.measure_arena``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# TfLiteType sizes in bytes, by schema TensorType value (tensorflow/lite/schema/schema.fbs)
_TYPE_BYTES = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 9: 1, 10: 8, 11: 8, 16: 4, 17: 1}


def _tensor_bytes(model: Any, tensor: Any) -> int:
    buf = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
    if buf is not None and buf.data is not None and len(buf.data) > 0:
        return 0  # constant data stays in flash
    if buf is not None and int(getattr(buf, "offset", 0) or 0) > 1:
        return 0  # constant data stored after the flatbuffer
    count = 1
    for d in tensor.shape if tensor.shape is not None else []:
        count *= max(int(d), 1)
    return count * _TYPE_BYTES.get(int(tensor.type), 4)


def memory_timeline(tflite_path: str | Path) -> dict[str, Any]:
    """Live activation bytes per op and the breakdown at the peak.

    Returns ``{"peak_bytes", "peak_op": {"index", "name", "op_type"}, "live": [{"tensor",
    "bytes", "producer", "consumers"}...] (largest first), "per_op": [{"index", "op_type",
    "live_bytes"}...]}``.
    """
    from edgekd.runtime.litert import builtin_op_names, op_code_name, read_model

    model = read_model(tflite_path)
    g = model.subgraphs[0]
    names = builtin_op_names()
    ops = list(g.operators or [])
    types = [op_code_name(model.operatorCodes[op.opcodeIndex], names) for op in ops]
    n = len(ops)
    first: dict[int, int] = {int(t): 0 for t in g.inputs}
    last: dict[int, int] = {int(t): n - 1 for t in g.outputs}
    producer: dict[int, int] = {}
    consumers: dict[int, list[int]] = {}
    for i, op in enumerate(ops):
        for t in op.outputs if op.outputs is not None else []:
            first.setdefault(int(t), i)
            producer.setdefault(int(t), i)
            last[int(t)] = max(last.get(int(t), i), i)
        for t in op.inputs if op.inputs is not None else []:
            if int(t) >= 0:
                first.setdefault(int(t), i)
                last[int(t)] = max(last.get(int(t), i), i)
                consumers.setdefault(int(t), []).append(i)
    sizes = {t: _tensor_bytes(model, g.tensors[t]) for t in first}
    live_per_op = [
        sum(b for t, b in sizes.items() if first[t] <= i <= last.get(t, i))
        for i in range(max(n, 1))
    ]
    k = max(range(len(live_per_op)), key=lambda i: live_per_op[i])
    per_op: list[dict[str, Any]] = [
        {"index": i, "op_type": types[i] if i < n else "-", "live_bytes": b}
        for i, b in enumerate(live_per_op)
    ]

    def label(i: int | None) -> str:
        return "graph input" if i is None else f"{types[i]}#{i}"

    live: list[dict[str, Any]] = [
        {
            "tensor": _name(g.tensors[t]),
            "bytes": b,
            "producer": label(producer.get(t)),
            "consumers": [label(c) for c in consumers.get(t, [])] or ["graph output"],
        }
        for t, b in sizes.items()
        if b and first[t] <= k <= last.get(t, k)
    ]
    live.sort(key=lambda r: -r["bytes"])
    return {
        "peak_bytes": int(live_per_op[k]),
        "peak_op": {"index": k, "op_type": per_op[k]["op_type"], "name": _op_name(g, ops, k)},
        "live": live,
        "per_op": per_op,
    }


def _name(tensor: Any) -> str:
    raw = tensor.name
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _op_name(g: Any, ops: list, k: int) -> str:
    if k >= len(ops) or ops[k].outputs is None or len(ops[k].outputs) == 0:
        return "-"
    return _name(g.tensors[int(ops[k].outputs[0])])


def peak_summary(timeline: dict[str, Any], top: int = 3) -> str:
    """One line naming the peak op and the largest tensors live there."""
    parts = [
        f"{r['tensor']} {r['bytes']:,} B (from {r['producer']})" for r in timeline["live"][:top]
    ]
    op = timeline["peak_op"]
    return (
        f"activation peak {timeline['peak_bytes']:,} B at {op['op_type']}#{op['index']}: "
        + "; ".join(parts)
    )
