"""Static analysis of TFLite flatbuffers: params, weight bytes, MACs per op, peak activations.

The file is parsed with the schema bindings that ship with ai-edge-litert
(``schema_py_generated``, generated from tensorflow/lite/schema/schema.fbs). Layout is NHWC:
CONV_2D filters are [Cout, kh, kw, Cin/g], DEPTHWISE_CONV_2D filters [1, kh, kw, Cout],
FULLY_CONNECTED weights [N, K].

Shapes: ``-1`` in an input's ``shape_signature`` is symbolic (``shapes.resolve_shapes``); when
the resolved input shapes differ from the stored ones, LiteRT itself propagates them
(``resize_tensor_input`` + ``allocate_tensors``) and every tensor's shape is read back.
Persistent state (variable tensors such as an LSTM's or SVDF's, and resource variables
written by ``ASSIGN_VARIABLE``) lives for the whole run: it is ``persistent_bytes`` and is
added to the activation peak, as TFLite Micro keeps it in its persistent arena.
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
    kind_precision,
    peak_live_bytes,
    split_work,
)
from edgekd.profile.shapes import InputSpec, resolve_shapes
from edgekd.runtime.litert import builtin_op_names, op_code_name

# TensorType -> (bytes per element, is float); schema.fbs enum TensorType
TYPE_SIZES: dict[int, tuple[int, bool]] = {
    0: (4, True), 1: (2, True), 2: (4, False), 3: (1, False), 4: (8, False), 6: (1, False),
    7: (2, False), 9: (1, False), 10: (8, True), 15: (4, False), 16: (2, False),
    17: (1, False), 18: (2, True),
}  # fmt: skip
DATA_OPS = {
    "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE", "CONCATENATION", "PAD", "PADV2",
    "SLICE", "STRIDED_SLICE", "GATHER", "SPLIT", "SPLIT_V", "PACK", "UNPACK", "SHAPE",
    "CAST", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "TILE", "BROADCAST_TO",
}  # fmt: skip
VIEW_OPS = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}
POOL_OPS = {"AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"}
REDUCE_OPS = {"MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"}
QUANT_OPS = {"QUANTIZE", "DEQUANTIZE"}
BIAS_INDEX = {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "FULLY_CONNECTED": 2, "TRANSPOSE_CONV": 3}
# TensorType -> precision kind; None for index, flag and text types (schema.fbs TensorType)
TYPE_KINDS: dict[int, str | None] = {
    0: "fp32", 1: "fp16", 10: "fp32", 18: "fp16", 3: "int8", 9: "int8", 17: "int8",
}  # fmt: skip


def analyze_tflite(path: Path, input_shapes: dict[str, list[int]] | None = None) -> GraphSummary:
    """Read a .tflite file and summarise its first subgraph at the given input shapes."""
    schema = require("ai_edge_litert.schema_py_generated", "tflite")
    buf = path.read_bytes()
    try:
        model = schema.ModelT.InitFromPackedBuf(buf, 0)
        sg = model.subgraphs[0]
        tensors = list(sg.tensors)
        _ = [op.inputs for op in sg.operators]
    except Exception as exc:
        raise ModelFileError(f"{path}: not a readable TFLite flatbuffer ({exc})") from None
    _check_structure(model, sg, tensors, path)
    names = builtin_op_names()
    op_names = [op_code_name(code, names) for code in model.operatorCodes]
    specs = [_input_spec(tensors[i]) for i in sg.inputs]
    resolved, notes = resolve_shapes(specs, input_shapes, str(path))
    shapes = [[int(d) for d in (t.shape if t.shape is not None else [])] for t in tensors]
    if any(resolved[sp.name] != shapes[i] for sp, i in zip(specs, sg.inputs, strict=True)):
        shapes = _propagated_shapes(path, resolved, shapes)
    summary = _summarise(model, sg, tensors, op_names, path, len(buf), shapes)
    summary.input_shapes, summary.shape_notes = resolved, notes
    return summary


def _input_spec(t: Any) -> InputSpec:
    shape = [int(d) for d in (t.shape if t.shape is not None else [])]
    sig = t.shapeSignature
    sig = [int(d) for d in sig] if sig is not None and len(sig) == len(shape) else shape
    dtype = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16",
             9: "int8"}.get(int(t.type), "float32")  # fmt: skip
    name = _name(t) if isinstance(t.name, bytes) else str(t.name or "")
    return InputSpec(name, tuple(d if d > 0 else None for d in sig), dtype)


def _propagated_shapes(
    path: Path, resolved: dict[str, list[int]], stored: list[list[int]]
) -> list[list[int]]:
    """Every tensor's shape after LiteRT resizes the inputs to ``resolved``."""
    from edgekd.runtime.litert import load_interpreter

    interp = load_interpreter(path)
    try:
        for d in interp.get_input_details():
            interp.resize_tensor_input(d["index"], resolved[d["name"]], strict=False)
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"{path}: LiteRT cannot run it at {resolved}: {first}") from None
    shapes = [list(s) for s in stored]
    for d in interp.get_tensor_details():
        if 0 <= d["index"] < len(shapes):
            shapes[d["index"]] = [int(x) for x in d["shape"]]
    return shapes


def _check_structure(model: Any, sg: Any, tensors: list[Any], path: Path) -> None:
    """Every index the graph uses points inside its table and every shape is non-negative,
    as LiteRT's verifier requires; a flatbuffer that parses but breaks this is corrupt."""
    n, codes = len(tensors), len(model.operatorCodes if model.operatorCodes is not None else [])

    def bad(what: str) -> ModelFileError:
        return ModelFileError(f"{path}: not a valid TFLite model (corrupt?): {what}")

    for k, op in enumerate(sg.operators if sg.operators is not None else []):
        if not 0 <= op.opcodeIndex < codes:
            raise bad(f"operator {k} uses operator code {op.opcodeIndex} of {codes}")
        ins, outs = _indices(op.inputs), _indices(op.outputs)
        for i in ins + outs:  # -1 marks an omitted optional input
            if not -1 <= int(i) < n or (i == -1 and i in outs):
                raise bad(f"operator {k} refers to tensor {i}, but the subgraph has {n}")
    for i in _indices(sg.inputs) + _indices(sg.outputs):
        if not 0 <= int(i) < n:
            raise bad(f"a subgraph input/output refers to tensor {i}, but there are {n}")
    for t in tensors:
        if t.shape is not None and any(int(d) < 0 for d in t.shape):
            raise bad(f"tensor {t.name!r} has a negative dimension {list(t.shape)}")


def _buffer_bytes(model: Any, t: Any, file_len: int, path: Path) -> int:
    b = model.buffers[t.buffer] if 0 <= t.buffer < len(model.buffers) else None
    if b is None:
        return 0
    if b.data is not None and len(b.data) > 0:
        return len(b.data)
    if b.offset and b.offset > 1:
        if b.offset + b.size > file_len:
            raise ModelFileError(
                f"{path}: a TFLite buffer points past the end of the file (truncated?)"
            )
        return int(b.size)
    return 0


def _summarise(model, sg, tensors, op_names, path: Path, file_len: int, shapes) -> GraphSummary:  # noqa: ANN001
    numel = [math.prod(s) if s else 1 for s in shapes]
    items = [TYPE_SIZES.get(int(t.type), (4, True)) for t in tensors]
    kinds = [TYPE_KINDS.get(int(t.type)) for t in tensors]
    const: dict[int, int] = {}
    const_kind: dict[int, str | None] = {}
    for i, t in enumerate(tensors):
        nbytes = _buffer_bytes(model, t, file_len, path)
        if nbytes:
            const[i], const_kind[i] = nbytes, kinds[i]
    persistent = _persistent(sg, op_names, tensors, numel, items)
    params = _params(sg, op_names, const, tensors, numel)
    aliases = Aliases()
    ops: list[OpInfo] = []
    steps: list[tuple[list[str], list[str]]] = []
    pairs: list[tuple[OpInfo, list[int]]] = []
    producer: dict[int, str] = {}
    for k, op in enumerate(sg.operators):
        name = op_names[op.opcodeIndex]
        ins = [int(i) for i in (op.inputs if op.inputs is not None else []) if i >= 0]
        outs = [int(i) for i in (op.outputs if op.outputs is not None else [])]
        if ins and all(i in const for i in ins):  # e.g. DEQUANTIZE of fp16 weights
            for o in outs:
                const[o] = sum(const[i] for i in ins)
                const_kind[o] = next((const_kind[i] for i in ins if const_kind[i]), None)
            continue
        fused = name in VIEW_OPS
        acts = [i for i in ins if i not in const]
        if fused and acts and outs:
            aliases.union(str(acts[0]), str(outs[0]))
        info = _op_info(k, name, op, ins, outs, shapes, numel, const, const_kind, kinds, fused)
        info.name = (_name(tensors[outs[0]]) if outs else "") or info.name
        ops.append(info)
        pairs.append((info, acts + outs))
        for o in outs:
            producer[o] = name
        if not fused:
            steps.append(([str(i) for i in acts], [str(o) for o in outs]))
    skip = set(const) | persistent["tensors"]
    act_numel = {str(i): numel[i] for i in range(len(tensors)) if i not in skip}
    act_item = {str(i): items[i][0] for i in range(len(tensors)) if i not in skip}
    sizes = group_sizes(aliases, act_numel, act_item)
    for info, ts in pairs:
        info.act_bytes = int(sum(sizes.get(r, 0) for r in {aliases.root(str(t)) for t in ts}))
    rsteps = [([aliases.root(t) for t in a], [aliases.root(t) for t in b]) for a, b in steps]
    g_in = [aliases.root(str(i)) for i in sg.inputs]
    g_out = [aliases.root(str(o)) for o in sg.outputs]
    macs, elementwise = split_work(ops)
    return GraphSummary(
        path=str(path),
        format="tflite",
        precision=graph_precision(ops),
        params=params[0],
        weight_bytes=params[1],
        file_bytes=file_len,
        macs=macs,
        peak_activation_bytes=peak_live_bytes(rsteps, sizes, g_in, g_out) + persistent["bytes"],
        ops=ops,
        input_shapes={_name(tensors[i]): shapes[i] for i in sg.inputs},
        elementwise_ops=elementwise,
        persistent_bytes=persistent["bytes"],
    )


def _persistent(sg, op_names, tensors, numel, items) -> dict[str, Any]:  # noqa: ANN001
    """Variable tensors (``is_variable``) and resource variables: the value tensors written by
    ``ASSIGN_VARIABLE``, one per resource handle (the largest value written to it)."""
    var = {i for i, t in enumerate(tensors) if t.isVariable}
    total = sum(numel[i] * items[i][0] for i in var)
    per_resource: dict[int, int] = {}
    for op in sg.operators if sg.operators is not None else []:
        if op_names[op.opcodeIndex] == "ASSIGN_VARIABLE" and op.inputs is not None:
            handle, value = int(op.inputs[0]), int(op.inputs[1])
            nbytes = numel[value] * items[value][0]
            per_resource[handle] = max(per_resource.get(handle, 0), nbytes)
    return {"tensors": var, "bytes": int(total + sum(per_resource.values()))}


def _indices(v: Any) -> list[int]:
    """A flatbuffer index vector (numpy array, list or None) as a list of ints."""
    return [] if v is None else [int(i) for i in v]


def _name(tensor: Any) -> str:
    """A tensor's name (bytes in the flatbuffer; undecodable bytes replaced, not fatal)."""
    return tensor.name.decode("utf-8", errors="replace") if tensor.name else ""


def _params(sg, op_names, const, tensors, numel) -> tuple[int, int]:  # noqa: ANN001
    """(count, bytes) of weight tensors: float/int8 constants and int32 biases, not int32
    shape/permutation operands."""
    bias = set()
    for op in sg.operators:
        idx = BIAS_INDEX.get(op_names[op.opcodeIndex])
        if idx is not None and op.inputs is not None and len(op.inputs) > idx:
            bias.add(int(op.inputs[idx]))
    keep = [
        i for i in const if i < len(tensors) and (int(tensors[i].type) not in (2, 4) or i in bias)
    ]
    return sum(numel[i] for i in keep), sum(const[i] for i in keep)


def _op_info(k, name, op, ins, outs, shapes, numel, const, const_kind, kinds, fused) -> OpInfo:  # noqa: ANN001
    out_n = numel[outs[0]] if outs else 0
    op_class, macs = "elementwise", out_n
    if name == "CONV_2D" and len(ins) > 1:
        macs, op_class = out_n * math.prod(shapes[ins[1]][1:]), "conv"
    elif name == "DEPTHWISE_CONV_2D" and len(ins) > 1:
        macs, op_class = out_n * math.prod(shapes[ins[1]][1:3]), "depthwise"
    elif name == "TRANSPOSE_CONV" and len(ins) > 2:
        macs, op_class = numel[ins[2]] * math.prod(shapes[ins[1]][:3]), "conv"
    elif name in ("FULLY_CONNECTED", "BATCH_MATMUL") and len(ins) > 1:
        macs, op_class = out_n * (shapes[ins[0]][-1] if shapes[ins[0]] else 1), "gemm"
    elif name in POOL_OPS:
        opts = op.builtinOptions
        window = int(getattr(opts, "filterHeight", 1) or 1) * int(
            getattr(opts, "filterWidth", 1) or 1
        )
        macs, op_class = out_n * window, "pool"
    elif name in REDUCE_OPS:
        macs, op_class = numel[ins[0]] if ins else 0, "pool"
    elif name in QUANT_OPS:
        macs, op_class = 0, "quant"
    elif name in DATA_OPS:
        macs, op_class = 0, "data"
    in_kinds = [const_kind[i] if i in const else kinds[i] for i in ins]
    return OpInfo(
        name=f"{name}_{k}",
        op_type=name,
        op_class=op_class,
        macs=int(macs),
        weight_bytes=int(sum(const[i] for i in ins if i in const)),
        act_bytes=0,
        precision=kind_precision(in_kinds),
        fused=fused,
    )
