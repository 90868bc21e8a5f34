"""Work per ONNX operator from resolved shapes: multiply-accumulates (MACs) for the ops that
multiply and accumulate, element operations for the rest.

Formulas (one MAC = one multiply and one add into an accumulator):

- Conv: ``out_elements x (C_in / group) x prod(kernel)``; ConvTranspose:
  ``in_elements x (C_out / group) x prod(kernel)``.
- MatMul/Gemm: ``out_elements x K`` (the contracted dimension).
- Einsum: the loop count of the naive contraction, ``prod(size of every index)``, times
  ``operands - 1``.
- LSTM / GRU / RNN (ONNX operator spec): per time step, batch row and direction the gates
  multiply ``[x_t, h_{t-1}]`` by ``W`` and ``R``: ``gates x H x (I + H)`` MACs, with 4 gates for
  LSTM, 3 for GRU, 1 for RNN.
- Attention (ONNX opset 23 ``Attention``; com.microsoft ``MultiHeadAttention``):
  ``B x heads x S_q x S_kv x (d_qk + d_v)`` for ``Q K^T`` and ``softmax(.) V``; com.microsoft
  ``Attention`` adds its packed QKV projection ``B x S x hidden x 3 hidden``.
- Pooling: window elements per output (``pool``); everything else: one operation per output
  element (``elementwise``). These are not MACs and are reported apart from them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Shapes = dict[str, list[int]]

CONV_OPS = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3, "FusedConv": 1, "NhwcConv": 1}
GEMM_OPS = {"Gemm", "MatMul", "MatMulInteger", "QLinearMatMul", "FusedMatMul", "QGemm",
            "MatMulIntegerToFloat", "DynamicQuantizeMatMul", "FusedGemm"}  # fmt: skip
RECURRENT_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1, "DynamicQuantizeLSTM": 4}
ATTENTION_OPS = {"Attention", "MultiHeadAttention", "GroupQueryAttention"}
POOL_OPS = {"MaxPool", "AveragePool", "LpPool", "QLinearAveragePool"}
GLOBAL_POOL_OPS = {"GlobalAveragePool", "GlobalMaxPool", "QLinearGlobalAveragePool",
                   "ReduceMean", "ReduceMax", "ReduceSum", "ReduceMin", "ReduceL2"}  # fmt: skip
QUANT_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}
VIEW_OPS = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"}
DATA_OPS = VIEW_OPS | {
    "Transpose", "Concat", "Split", "Slice", "Gather", "GatherElements", "GatherND", "Pad",
    "Shape", "Size", "Cast", "Expand", "Tile", "Resize", "Upsample", "DepthToSpace",
    "SpaceToDepth", "ConstantOfShape", "Range", "NonZero", "ScatterND", "ScatterElements",
    "If", "Loop", "Scan", "SequenceConstruct", "SequenceAt", "ConcatFromSequence",
}  # fmt: skip
MAC_CLASSES = ("conv", "depthwise", "gemm")


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _prod(xs: list[int]) -> int:
    return math.prod(int(x) for x in xs) if xs else 1


def _shape(shapes: Shapes, ins: list[str], k: int) -> list[int] | None:
    return shapes.get(ins[k]) if len(ins) > k and ins[k] else None


def op_work(
    op: str, ins: list[str], outs: list[str], attrs: dict[str, Any], shapes: Shapes
) -> tuple[str, int]:
    """(op class, work): MACs for conv/depthwise/gemm classes, element operations otherwise.
    ``ins`` keeps empty names for omitted optional inputs so positions match the spec."""
    out = shapes.get(outs[0], []) if outs and outs[0] else []
    out_n = _prod(out) if out or (outs and outs[0] in shapes) else 0
    for table, fn in _RULES:
        if op in table:
            return fn(op, ins, out, out_n, attrs, shapes)
    if op in QUANT_OPS:
        return "quant", 0
    if op in DATA_OPS:
        return "data", 0
    return "elementwise", out_n


def _conv(op, ins, out, out_n, attrs, shapes) -> tuple[str, int]:  # noqa: ANN001
    x = _shape(shapes, ins, 0) or []
    w = _shape(shapes, ins, CONV_OPS[op])
    group = int(attrs.get("group", 1))
    cin = x[1] if len(x) > 1 else 1
    if w and len(w) > 1:
        per_out = _prod(w[1:])
    else:
        per_out = max(1, cin // group) * _prod(list(attrs.get("kernel_shape", [1])))
    depthwise = group > 1 and group == cin
    return ("depthwise" if depthwise else "conv"), out_n * per_out


def _conv_transpose(op, ins, out, out_n, attrs, shapes) -> tuple[str, int]:  # noqa: ANN001
    x = _shape(shapes, ins, 0) or []
    w = _shape(shapes, ins, 1) or [1, 1]
    return "conv", _prod(x) * _prod(w[1:])


def _gemm(op, ins, out, out_n, attrs, shapes) -> tuple[str, int]:  # noqa: ANN001
    a = _shape(shapes, ins, 0) or [1]
    if op in ("Gemm", "FusedGemm") and attrs.get("transA", 0):
        k = a[0]
    else:
        k = a[-1]
    return "gemm", out_n * int(k)


def _einsum(op, ins, out, out_n, attrs, shapes) -> tuple[str, int]:  # noqa: ANN001
    eq = _text(attrs.get("equation", "")).replace(" ", "")
    lhs = eq.split("->")[0].split(",")
    if len(lhs) < 2:
        return "elementwise", out_n
    sizes: dict[str, int] = {}
    for term, name in zip(lhs, ins, strict=False):
        shape = shapes.get(name) or []
        letters = [c for c in term if c.isalpha()]
        if "..." in term:  # broadcast dims: sized from the shape, one pseudo-index each
            n_ell = len(shape) - len(letters)
            pre = term.split("...")[0]
            letters = (
                [c for c in pre if c.isalpha()]
                + [f"_{i}" for i in range(n_ell)]
                + [c for c in term.split("...")[1] if c.isalpha()]
            )
        for c, d in zip(letters, shape, strict=False):
            sizes[c] = max(sizes.get(c, 1), int(d))
    return "gemm", _prod(list(sizes.values())) * (len(lhs) - 1)


def _recurrent(op, ins, out, out_n, attrs, shapes) -> tuple[str, int]:  # noqa: ANN001
    x = _shape(shapes, ins, 0) or [1, 1, 1]
    layout = int(attrs.get("layout", 0))
    seq, batch = (x[1], x[0]) if layout else (x[0], x[1])
    hidden = int(attrs.get("hidden_size", 0))
    w = _shape(shapes, ins, 1)
    dirs = 2 if _text(attrs.get("direction", "forward")) == "bidirectional" else 1
    if w and len(w) == 3:
        dirs = w[0]
        hidden = hidden or w[1] // RECURRENT_GATES[op]
    inp = x[2] if len(x) > 2 else 1
    return "gemm", seq * batch * dirs * RECURRENT_GATES[op] * hidden * (inp + hidden)


def _attention(op, ins, out, out_n, attrs, shapes) -> tuple[str, int]:  # noqa: ANN001
    q = _shape(shapes, ins, 0) or [1, 1, 1]
    if op == "Attention" and len(ins) > 1 and (_shape(shapes, ins, 1) or [0, 0])[0] != q[0]:
        # com.microsoft Attention: input (B, S, hidden), weights (hidden, 3 * hidden)
        w = _shape(shapes, ins, 1) or [1, 3]
        b, s = q[0], q[1]
        heads = int(attrs.get("num_heads", 1))
        hidden = w[1] // 3
        return "gemm", b * s * w[0] * w[1] + 2 * b * heads * s * s * (hidden // heads)
    k = _shape(shapes, ins, 1) or q
    v = _shape(shapes, ins, 2) or k
    if len(q) == 4:  # (B, heads, S, d)
        b, heads, sq, dq = q
        skv, dv = k[2], v[-1]
    else:  # (B, S, heads * d)
        heads = int(attrs.get("q_num_heads", attrs.get("num_heads", 1)))
        b, sq, dq = q[0], q[1], q[2] // max(heads, 1)
        skv = k[1] if len(k) == 3 else k[-2]
        kv_heads = int(attrs.get("kv_num_heads", heads)) or heads
        dv = (v[-1] // kv_heads) if len(v) == 3 else v[-1]
    return "gemm", b * heads * sq * skv * (dq + dv)


def _pool(op, ins, out, out_n, attrs, shapes) -> tuple[str, int]:  # noqa: ANN001
    return "pool", out_n * _prod(list(attrs.get("kernel_shape", [1])))


def _global_pool(op, ins, out, out_n, attrs, shapes) -> tuple[str, int]:  # noqa: ANN001
    return "pool", _prod(_shape(shapes, ins, 0) or [])


_RULES: list[tuple[Any, Callable[..., tuple[str, int]]]] = [
    (CONV_OPS, _conv),
    ({"ConvTranspose"}, _conv_transpose),
    (GEMM_OPS, _gemm),
    ({"Einsum"}, _einsum),
    (RECURRENT_GATES, _recurrent),
    (ATTENTION_OPS, _attention),
    (POOL_OPS, _pool),
    (GLOBAL_POOL_OPS, _global_pool),
]
