"""Static analysis of ONNX graphs: params, weight bytes, MACs per op, peak activations.

Shapes come from ONNX shape inference with symbolic input dimensions fixed to 1 (batch 1).
Constant subgraphs (initializers, ``Constant`` nodes, DequantizeLinear of int8 weights) are
folded away as a runtime does at load time; their bytes are the op's weight bytes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from edgekd.errors import ModelFileError, require
from edgekd.profile.graph import (
    Aliases,
    GraphSummary,
    OpInfo,
    graph_precision,
    group_sizes,
    op_precision,
    peak_live_bytes,
)

CONV_OPS = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3}  # op -> weight input index
GEMM_OPS = {"Gemm", "MatMul", "MatMulInteger", "QLinearMatMul", "FusedMatMul", "QGemm"}
POOL_OPS = {"MaxPool", "AveragePool", "LpPool", "QLinearAveragePool"}
GLOBAL_POOL_OPS = {
    "GlobalAveragePool",
    "GlobalMaxPool",
    "QLinearGlobalAveragePool",
    "ReduceMean",
    "ReduceMax",
    "ReduceSum",
}
QUANT_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}
# QLinear* op -> input indices holding data (the rest are scales and zero points; ONNX spec)
QLINEAR_DATA = {
    "QLinearConv": {0, 3, 8}, "QLinearMatMul": {0, 3}, "QGemm": {0, 3, 6},
    "QLinearAdd": {0, 3}, "QLinearMul": {0, 3},
    "QLinearAveragePool": {0}, "QLinearGlobalAveragePool": {0}, "QLinearSigmoid": {0},
    "QLinearLeakyRelu": {0},
}  # fmt: skip
VIEW_OPS = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"}
DATA_OPS = VIEW_OPS | {
    "Transpose", "Concat", "Split", "Slice", "Gather", "Pad", "Shape", "Cast", "Expand",
    "Tile", "Resize", "Upsample", "DepthToSpace", "SpaceToDepth",
}  # fmt: skip
# activations a runtime fuses into the op that produced their input (ORT's ConvActivation
# fusion, TFLite's fused_activation_function) and BatchNorm folded into a preceding Conv.
FUSABLE = {"Relu", "Clip", "LeakyRelu", "BatchNormalization"}
FUSE_INTO = set(CONV_OPS) | GEMM_OPS | {"Add", "ConvTranspose"}


def analyze_onnx(path: Path) -> GraphSummary:
    """Read an ONNX file and summarise it (see ``GraphSummary``)."""
    onnx = require("onnx", "onnx")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError and friends
        raise ModelFileError(f"{path}: not a readable ONNX model ({exc})") from None
    if len(model.graph.node) == 0:
        raise ModelFileError(f"{path}: ONNX graph has no nodes (empty or truncated file)")
    from edgekd.runtime.onnx import check_onnx_model

    check_onnx_model(model, path)
    init_names = {i.name for i in model.graph.initializer}
    for inp in model.graph.input:
        if inp.name in init_names:
            continue
        for dim in inp.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value") or dim.dim_value <= 0:
                dim.Clear()
                dim.dim_value = 1
    try:
        model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception as exc:
        raise ModelFileError(f"{path}: ONNX shape inference failed ({exc})") from None
    return _summarise(model, path, onnx)


def _tensor_types(model: Any, onnx: Any) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Shape (unknown dims -> 1) and ONNX elem_type of every typed value in the graph."""
    shapes: dict[str, list[int]] = {}
    types: dict[str, int] = {}
    g = model.graph
    for vi in [*g.input, *g.value_info, *g.output]:
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            types[vi.name] = tt.elem_type
            continue
        shapes[vi.name] = [d.dim_value if d.dim_value > 0 else 1 for d in tt.shape.dim]
        types[vi.name] = tt.elem_type
    for init in g.initializer:
        shapes[init.name] = list(init.dims)
        types[init.name] = init.data_type
    for node in g.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    shapes[node.output[0]] = list(a.t.dims)
                    types[node.output[0]] = a.t.data_type
    return shapes, types


def _itemsize(onnx: Any, elem_type: int) -> tuple[int, bool]:
    """(bytes per element, is floating point) for an ONNX elem_type."""
    try:
        dt = onnx.helper.tensor_dtype_to_np_dtype(elem_type)
        return int(dt.itemsize), dt.kind == "f"
    except Exception:
        return 4, True


def _summarise(model: Any, path: Path, onnx: Any) -> GraphSummary:
    g = model.graph
    shapes, types = _tensor_types(model, onnx)
    numel = {t: math.prod(s) if s else 1 for t, s in shapes.items()}
    inits = {i.name for i in g.initializer}
    const: dict[str, int] = {i: numel[i] * _itemsize(onnx, types[i])[0] for i in inits}
    const_size: dict[str, int] = {i: _itemsize(onnx, types[i])[0] for i in inits}
    param_inits = _param_initializers(g, inits, types)
    producer: dict[str, Any] = {}
    aliases = Aliases()
    ops: list[OpInfo] = []
    pairs: list[tuple[OpInfo, Any]] = []
    steps: list[tuple[list[str], list[str]]] = []
    for idx, node in enumerate(g.node):
        ins = [t for t in node.input if t]
        if node.op_type == "Constant" or (ins and all(t in const for t in ins)):
            _fold_constant(node, ins, const, const_size, numel, types, onnx)
            continue
        for t in node.output:
            producer[t] = node
        fused = _is_fused(node, ins, producer, const)
        if fused and ins:
            aliases.union(ins[0], node.output[0])
        info = _op_info(node, idx, ins, shapes, numel, types, const, const_size, fused, onnx)
        ops.append(info)
        pairs.append((info, node))
        if not fused:
            steps.append(([t for t in ins if t not in const], list(node.output)))
    act_numel = {t: n for t, n in numel.items() if t not in const}
    act_items = {t: _itemsize(onnx, types.get(t, 1))[0] for t in act_numel}
    sizes = group_sizes(aliases, act_numel, act_items)
    rsteps = [([aliases.root(t) for t in a], [aliases.root(t) for t in b]) for a, b in steps]
    graph_in = [aliases.root(i.name) for i in g.input if i.name not in inits]
    graph_out = [aliases.root(o.name) for o in g.output]
    _fix_act_bytes(pairs, aliases, sizes, act_items, const)
    peak = peak_live_bytes(rsteps, sizes, graph_in, graph_out)
    return GraphSummary(
        path=str(path),
        format="onnx",
        precision=graph_precision(ops),
        params=sum(numel[i] for i in param_inits),
        weight_bytes=sum(const[i] for i in param_inits),
        file_bytes=path.stat().st_size,
        macs=sum(op.macs for op in ops),
        peak_activation_bytes=peak,
        ops=ops,
        input_shapes={i.name: shapes.get(i.name, []) for i in g.input if i.name not in inits},
    )


def _param_initializers(g: Any, inits: set[str], types: dict[str, int]) -> set[str]:
    """Initializers that are weights: not Q/DQ scales or zero points, not int64 shapes."""
    uses: dict[str, list[tuple[str, int]]] = {}
    for node in g.node:
        for k, t in enumerate(node.input):
            uses.setdefault(t, []).append((node.op_type, k))
    keep = set()
    for i in inits:
        u = uses.get(i, [])
        if types.get(i) == 7:  # INT64: shapes, axes, pads
            continue
        if u and all(_is_scale_input(op, k) for op, k in u):
            continue
        keep.add(i)
    return keep


def _is_scale_input(op: str, k: int) -> bool:
    """Whether input ``k`` of ``op`` is a quantization scale or zero point."""
    if op in QUANT_OPS:
        return k >= 1
    return op in QLINEAR_DATA and k not in QLINEAR_DATA[op]


def _fold_constant(node, ins, const, const_size, numel, types, onnx) -> None:  # noqa: ANN001
    """A node whose inputs are all constant is folded at load time: its outputs are
    constants carrying the bytes (and narrowest element size) of the data they came from."""
    if node.op_type == "Constant":
        t = node.output[0]
        const[t] = numel.get(t, 1) * _itemsize(onnx, types.get(t, 1))[0]
        const_size[t] = _itemsize(onnx, types.get(t, 1))[0]
        return
    data = ins[:1] if node.op_type in QUANT_OPS else ins
    for t in node.output:
        const[t] = sum(const[i] for i in data)
        const_size[t] = min(const_size[i] for i in data)


def _is_fused(node: Any, ins: list[str], producer: dict[str, Any], const: dict) -> bool:
    """Q/DQ, in-place views and activations that a runtime fuses into their producer."""
    if node.op_type in QUANT_OPS or node.op_type in VIEW_OPS:
        return True
    if node.op_type not in FUSABLE or not ins:
        return False
    src = producer.get(ins[0])
    while src is not None and src.op_type in QUANT_OPS:
        src = producer.get(src.input[0])
    return src is not None and src.op_type in FUSE_INTO


def _op_info(node, idx, ins, shapes, numel, types, const, const_size, fused, onnx) -> OpInfo:  # noqa: ANN001
    out = node.output[0] if node.output else ""
    out_n = numel.get(out, 0)
    op, attrs = node.op_type, {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    op_class, macs = "elementwise", out_n
    if op in CONV_OPS:
        w = shapes.get(ins[CONV_OPS[op]], [1, 1])
        group = int(attrs.get("group", 1))
        cin = shapes.get(ins[0], [1, 1])[1] if len(shapes.get(ins[0], [])) > 1 else 1
        macs = out_n * math.prod(w[1:])
        op_class = "depthwise" if group > 1 and group == cin else "conv"
    elif op == "ConvTranspose":
        w = shapes.get(ins[1], [1, 1])
        macs, op_class = numel.get(ins[0], 0) * math.prod(w[1:]), "conv"
    elif op in GEMM_OPS:
        a = shapes.get(ins[0], [1])
        k = a[0] if (op == "Gemm" and attrs.get("transA", 0)) else a[-1]
        macs, op_class = out_n * k, "gemm"
    elif op in POOL_OPS:
        macs, op_class = out_n * math.prod(attrs.get("kernel_shape", [1])), "pool"
    elif op in GLOBAL_POOL_OPS:
        macs, op_class = numel.get(ins[0], 0), "pool"
    elif op in QUANT_OPS:
        macs, op_class = 0, "quant"
    elif op in DATA_OPS:
        macs, op_class = 0, "data"
    sizes = []
    for t in ins:
        if t in const:
            sizes.append((const_size[t], const_size[t] != 1))
        else:
            sizes.append(_itemsize(onnx, types.get(t, 1)))
    return OpInfo(
        name=node.name or f"{op}_{idx}",
        op_type=op,
        op_class=op_class,
        macs=int(macs),
        weight_bytes=int(sum(const[t] for t in ins if t in const)),
        act_bytes=0,
        precision=op_precision(sizes),
        fused=fused,
    )


def _fix_act_bytes(
    pairs: list[tuple[OpInfo, Any]],
    aliases: Aliases,
    sizes: dict[str, int],
    act_items: dict[str, int],
    const: dict[str, int],
) -> None:
    """Activation bytes read and written per op, at the alias group's stored size; an op
    whose data lives in a quantized group (QDQ graphs) computes in int8."""
    narrow: dict[str, int] = {}
    for t, s in act_items.items():
        r = aliases.root(t)
        narrow[r] = min(narrow.get(r, 8), s)
    for op, node in pairs:
        acts = [t for t in [*node.input, *node.output] if t and t not in const]
        op.act_bytes = int(sum(sizes.get(r, 0) for r in {aliases.root(t) for t in acts}))
        ins = [aliases.root(t) for t in node.input if t and t not in const]
        if (
            op.precision == "fp32"
            and op.op_class != "quant"
            and any(narrow.get(r) == 1 for r in ins)
        ):
            op.precision = "int8"
