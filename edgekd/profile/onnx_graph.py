"""Static analysis of ONNX graphs: params, weight bytes, MACs per op, peak activations.

Shapes: the graph inputs are fixed to the resolved input shapes (``shapes.resolve_shapes``:
given with ``--input-shape``, or concrete in the file), then propagated to every tensor
(``onnx_shapes.infer``). Weights are what the runtime keeps in memory: initializers and
``Constant`` nodes, in the main graph and in every subgraph, except index/shape tensors,
scalars and quantization scales/zero points. Constant subgraphs (a ``DequantizeLinear`` of
int8 weights, a ``Cast`` of fp16 weights) are folded as a runtime does at load time.

Control flow: an ``If`` costs its larger branch (both branches' weights are in the file and
counted); a ``Loop`` costs its body times the trip count when the trip count is a constant
(else one iteration, with a note); a ``Scan`` its body times the scan length.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
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
from edgekd.profile.onnx_ops import CONV_OPS, GEMM_OPS, QUANT_OPS, VIEW_OPS, op_work
from edgekd.profile.onnx_shapes import infer, subgraphs, tensor_table
from edgekd.profile.shapes import onnx_inputs, resolve_shapes

# QLinear* op -> input indices holding data (the rest are scales and zero points; ONNX spec)
QLINEAR_DATA = {
    "QLinearConv": {0, 3, 8}, "QLinearMatMul": {0, 3}, "QGemm": {0, 3, 6},
    "QLinearAdd": {0, 3}, "QLinearMul": {0, 3},
    "QLinearAveragePool": {0}, "QLinearGlobalAveragePool": {0}, "QLinearSigmoid": {0},
    "QLinearLeakyRelu": {0}, "QLinearConcat": set(),
}  # fmt: skip
# op -> input positions that configure the op (shapes, axes, sizes, bounds), never weights
CONFIG_INPUTS = {
    "Reshape": {1}, "Resize": {1, 2, 3}, "Upsample": {1}, "Pad": {1, 2, 3}, "Expand": {1},
    "Slice": {1, 2, 3, 4}, "Clip": {1, 2}, "Tile": {1}, "Unsqueeze": {1}, "Squeeze": {1},
    "Split": {1}, "TopK": {1}, "OneHot": {1, 2}, "Range": {0, 1, 2}, "ConstantOfShape": {0},
    "ReduceMean": {1}, "ReduceSum": {1}, "ReduceMax": {1}, "ReduceMin": {1}, "Loop": {0, 1},
    "If": {0}, "NonMaxSuppression": {2, 3, 4}, "CumSum": {1}, "Trilu": {1},
}  # fmt: skip
# elem types that hold indices, flags or text, never weights or activations' values
INDEX_TYPES = {6, 7, 9, 8, 12, 13}  # INT32, INT64, BOOL, STRING, UINT32, UINT64
INT8_TYPES = {2, 3, 21, 22}  # UINT8, INT8, UINT4, INT4
HALF_TYPES = {10, 16}  # FLOAT16, BFLOAT16
# activations a runtime fuses into the op that produced their input (ORT's ConvActivation
# fusion, TFLite's fused_activation_function) and BatchNorm folded into a preceding Conv.
FUSABLE = {"Relu", "Clip", "LeakyRelu", "BatchNormalization"}
FUSE_INTO = set(CONV_OPS) | GEMM_OPS | {"Add", "ConvTranspose"}
# ops whose folded output is freshly made data, sized by the output (not by the inputs)
GENERATORS = {"ConstantOfShape", "Range", "Expand", "Tile", "Shape", "Size"}


def load_onnx(path: Path) -> Any:
    """The ``ModelProto`` at ``path``; a corrupt, truncated or empty file is a ModelFileError."""
    onnx = require("onnx", "onnx")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError and friends
        raise ModelFileError(f"{path}: not a readable ONNX model ({exc})") from None
    if len(model.graph.node) == 0:
        raise ModelFileError(f"{path}: ONNX graph has no nodes (empty or truncated file)")
    from edgekd.runtime.onnx import check_onnx_model

    check_onnx_model(model, path)
    return model


def analyze_onnx(path: Path, input_shapes: Mapping[str, list[int]] | None = None) -> GraphSummary:
    """Read an ONNX file and summarise it at the given input shapes (see ``GraphSummary``)."""
    model = load_onnx(path)
    shapes, notes = resolve_shapes(onnx_inputs(model), input_shapes, str(path))
    inferred, more = infer(model, shapes, str(path))
    return _Walker(inferred).summary(path, shapes, notes + more)


def _itemsize(elem_type: int) -> int:
    from onnx import helper

    try:
        return int(helper.tensor_dtype_to_np_dtype(elem_type).itemsize)
    except Exception:
        return 4


def tensor_kind(elem_type: int) -> str | None:
    """'int8' for quantized data, 'fp16' for half floats, 'fp32' for other floats, None for
    index, flag and text tensors (int32/int64/bool/string), which say nothing of precision."""
    if elem_type in INT8_TYPES:
        return "int8"
    if elem_type in HALF_TYPES:
        return "fp16"
    if elem_type in INDEX_TYPES or elem_type in (4, 5):  # UINT16/INT16: 16-bit QDQ, not int8
        return None
    return "fp32"


@dataclass
class _Part:
    """Ops of one graph walk, and (for the main graph) its liveness steps."""

    ops: list[OpInfo] = field(default_factory=list)
    steps: list[tuple[list[str], list[str]]] = field(default_factory=list)
    pairs: list[tuple[OpInfo, Any]] = field(default_factory=list)
    sizes_extra: dict[str, int] = field(default_factory=dict)

    @property
    def macs(self) -> int:
        return split_work(self.ops)[0]


class _Walker:
    """One pass over a shape-inferred model: constants, weights, ops and liveness."""

    def __init__(self, model: Any) -> None:
        self.model = model
        raw, self.types = tensor_table(model)
        self.shapes = {t: [d if d and d > 0 else 1 for d in s] for t, s in raw.items()}
        self.numel = {t: math.prod(s) if s else 1 for t, s in self.shapes.items()}
        self.const: dict[str, int] = {}  # constant tensor -> stored bytes
        self.const_kind: dict[str, str | None] = {}
        self.values: dict[str, Any] = {}  # small constant integer values (trip counts)
        self.aliases = Aliases()
        self.notes: list[str] = []
        self.weights = self._weights()
        self._register_initializers()

    # --- constants and weights -------------------------------------------------------
    def _register_initializers(self) -> None:
        from onnx import numpy_helper

        from edgekd.profile.onnx_shapes import all_graphs

        for g in all_graphs(self.model.graph):
            for t in g.initializer:
                self._set_const(t.name, t.data_type)
                if t.data_type in (6, 7) and math.prod(t.dims) <= 16:
                    self.values[t.name] = numpy_helper.to_array(t)

    def _set_const(self, name: str, elem_type: int, nbytes: int | None = None) -> None:
        self.const[name] = (
            nbytes if nbytes is not None else self.numel.get(name, 1) * _itemsize(elem_type)
        )
        self.const_kind[name] = tensor_kind(elem_type)

    def _weights(self) -> set[str]:
        """Initializers and Constant outputs (every graph) that hold model weights."""
        from edgekd.profile.onnx_shapes import all_graphs

        uses: dict[str, list[tuple[str, int]]] = {}
        candidates: list[str] = []
        for g in all_graphs(self.model.graph):
            candidates += [t.name for t in g.initializer]
            for node in g.node:
                if node.op_type == "Constant":
                    candidates += list(node.output[:1])
                for k, t in enumerate(node.input):
                    uses.setdefault(t, []).append((node.op_type, k))
        keep = set()
        for t in candidates:
            elem, shape, used = self.types.get(t, 1), self.shapes.get(t, []), uses.get(t, [])
            if not shape or not used or elem in (7, 9, 8, 12, 13):
                continue  # scalars, unused, int64/bool/string/uint
            data = [(op, k) for op, k in used if not _is_config(op, k)]
            if not data:
                continue
            if elem == 6 and not any(_int32_is_data(op, k) for op, k in data):
                continue  # int32 shapes and indices; int32 biases of quantized ops are weights
            keep.add(t)
        return keep

    def _fold(self, node: Any, ins: list[str]) -> None:
        """A node whose inputs are all constant is folded at load time: its outputs are
        constants carrying the bytes (and narrowest kind) of the data they came from."""
        if node.op_type == "Constant":
            t = node.output[0]
            self._set_const(t, self.types.get(t, 1))
            value = _constant_ints(node)
            if value is not None:
                self.values[t] = value
            return
        if node.op_type in GENERATORS:
            for t in node.output:
                self._set_const(t, self.types.get(t, 1))
            return
        data = ins[:1] if node.op_type in QUANT_OPS else ins
        for t in node.output:
            self.const[t] = sum(self.const[i] for i in data)
            kinds = [k for k in (self.const_kind[i] for i in data) if k is not None]
            self.const_kind[t] = min(kinds, key=_KIND_RANK.__getitem__) if kinds else None

    # --- ops ------------------------------------------------------------------------
    def walk(self, graph: Any, scale: int, top: bool) -> _Part:
        part = _Part()
        producer: dict[str, Any] = {}
        for idx, node in enumerate(graph.node):
            ins_all = list(node.input)
            ins = [t for t in ins_all if t]
            subs = subgraphs(node)
            constant = node.op_type == "Constant" or (ins and all(t in self.const for t in ins))
            if constant and not subs:
                self._fold(node, ins)
                continue
            for t in node.output:
                producer[t] = node
            fused = _is_fused(node, ins, producer)
            if fused and ins and node.output:
                self.aliases.union(ins[0], node.output[0])
            info = self._op_info(node, idx, ins_all, fused, scale)
            part.ops.append(info)
            part.pairs.append((info, node))
            extra = self._control_flow(node, subs, scale, part) if subs else 0
            if not fused:
                outs = list(node.output)
                if extra:
                    virtual = f"__subgraph_peak_{id(node)}"
                    part.sizes_extra[virtual] = extra
                    outs.append(virtual)
                part.steps.append(([t for t in ins if t not in self.const], outs))
        return part

    def _control_flow(self, node: Any, subs: list[tuple[str, Any]], scale: int, part: _Part) -> int:
        """Append the ops of the subgraph(s) that run; return their own activation peak."""
        if node.op_type == "If":
            branches = [self.walk(g, scale, False) for _, g in subs]
            chosen = max(branches, key=lambda b: b.macs)
        else:
            repeat = self._iterations(node)
            chosen = self.walk(subs[0][1], scale * repeat, False)
            branches = [chosen]
        part.ops.extend(chosen.ops)
        part.pairs.extend(chosen.pairs)
        return max(self._peak(b, []) for b in branches)

    def _iterations(self, node: Any) -> int:
        if node.op_type == "Loop":
            trip = self.values.get(node.input[0]) if node.input and node.input[0] else None
            if trip is not None and trip.size == 1 and int(trip.reshape(-1)[0]) > 0:
                return int(trip.reshape(-1)[0])
            self.notes.append(
                f"Loop {node.name or node.output[0]!r}: trip count not a constant; "
                "its body is counted once"
            )
            return 1
        attrs = _attrs(node)  # Scan (opset >= 9): scan inputs are the last num_scan_inputs
        n_scan = int(attrs.get("num_scan_inputs", 1))
        first = node.input[len(node.input) - n_scan] if n_scan else ""
        axes = list(attrs.get("scan_input_axes", [0]))
        shape = self.shapes.get(first, [1])
        axis = axes[0] if axes else 0
        return int(shape[axis]) if shape and -len(shape) <= axis < len(shape) else 1

    def _op_info(self, node: Any, idx: int, ins: list[str], fused: bool, scale: int) -> OpInfo:
        attrs = _attrs(node)
        op_class, work = op_work(node.op_type, ins, list(node.output), attrs, self.shapes)
        present = [t for t in ins if t]
        kinds = [
            self.const_kind.get(t) if t in self.const else tensor_kind(self.types.get(t, 1))
            for t in present
        ]
        return OpInfo(
            name=node.name or f"{node.op_type}_{idx}",
            op_type=node.op_type,
            op_class=op_class,
            macs=int(work) * scale,
            weight_bytes=int(sum(self.const[t] for t in present if t in self.const)) * scale,
            act_bytes=0,
            precision=kind_precision(kinds),
            fused=fused,
        )

    # --- memory ---------------------------------------------------------------------
    def _act_tables(self) -> tuple[dict[str, int], dict[str, int]]:
        act_numel = {t: n for t, n in self.numel.items() if t not in self.const}
        act_items = {t: _itemsize(self.types.get(t, 1)) for t in act_numel}
        return act_numel, act_items

    def _peak(self, part: _Part, graph_in: list[str]) -> int:
        act_numel, act_items = self._act_tables()
        sizes = group_sizes(self.aliases, act_numel, act_items)
        sizes.update(part.sizes_extra)
        steps = [
            ([self.aliases.root(t) for t in a], [self.aliases.root(t) for t in b])
            for a, b in part.steps
        ]
        return peak_live_bytes(steps, sizes, [self.aliases.root(t) for t in graph_in], [])

    def summary(self, path: Path, shapes: dict[str, list[int]], notes: list[str]) -> GraphSummary:
        g = self.model.graph
        part = self.walk(g, 1, True)
        act_numel, act_items = self._act_tables()
        sizes = group_sizes(self.aliases, act_numel, act_items)
        sizes.update(part.sizes_extra)
        self._fix_act_bytes(part.pairs, sizes)
        inits = {t.name for t in g.initializer}
        graph_in = [self.aliases.root(i.name) for i in g.input if i.name not in inits]
        graph_out = [self.aliases.root(o.name) for o in g.output]
        steps = [
            ([self.aliases.root(t) for t in a], [self.aliases.root(t) for t in b])
            for a, b in part.steps
        ]
        macs, elementwise = split_work(part.ops)
        return GraphSummary(
            path=str(path),
            format="onnx",
            precision=graph_precision(part.ops),
            params=sum(self.numel.get(t, 0) for t in self.weights),
            weight_bytes=sum(self.const.get(t, 0) for t in self.weights),
            file_bytes=path.stat().st_size,
            macs=macs,
            peak_activation_bytes=peak_live_bytes(steps, sizes, graph_in, graph_out),
            ops=part.ops,
            input_shapes=dict(shapes),
            elementwise_ops=elementwise,
            shape_notes=notes + self.notes,
        )

    def _fix_act_bytes(self, pairs: list[tuple[OpInfo, Any]], sizes: dict[str, int]) -> None:
        """Activation bytes read and written per op, at the alias group's stored size; an op
        whose data lives in a quantized group (QDQ graphs) computes in int8."""
        quantized: set[str] = set()
        for t in self.numel:
            if t not in self.const and tensor_kind(self.types.get(t, 1)) == "int8":
                quantized.add(self.aliases.root(t))
        for op, node in pairs:
            acts = [t for t in [*node.input, *node.output] if t and t not in self.const]
            roots = {self.aliases.root(t) for t in acts}
            op.act_bytes = int(sum(sizes.get(r, 0) for r in roots))
            ins = {self.aliases.root(t) for t in node.input if t and t not in self.const}
            if op.precision == "fp32" and op.op_class != "quant" and ins & quantized:
                op.precision = "int8"


_KIND_RANK = {"int8": 0, "fp16": 1, "fp32": 2}


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute if a.type != a.GRAPH}


def _constant_ints(node: Any) -> Any:
    from onnx import numpy_helper

    for a in node.attribute:
        if a.name == "value" and a.t.data_type in (6, 7) and math.prod(a.t.dims) <= 16:
            return numpy_helper.to_array(a.t)
        if a.name == "value_int":
            import numpy as np

            return np.array(a.i)
    return None


def _is_config(op: str, k: int) -> bool:
    """Whether input ``k`` of ``op`` configures it (shape, axes, scale, zero point)."""
    if op in QUANT_OPS:
        return k >= 1
    if op in QLINEAR_DATA:
        return k not in QLINEAR_DATA[op]
    return k in CONFIG_INPUTS.get(op, ())


def _int32_is_data(op: str, k: int) -> bool:
    """int32 tensors that are data: quantized biases (DequantizeLinear input, QLinear bias)."""
    return (op == "DequantizeLinear" and k == 0) or (op, k) in {("QLinearConv", 8), ("QGemm", 6)}


def _is_fused(node: Any, ins: list[str], producer: dict[str, Any]) -> bool:
    """Q/DQ, in-place views and activations that a runtime fuses into their producer."""
    if node.op_type in QUANT_OPS or node.op_type in VIEW_OPS:
        return True
    if node.op_type not in FUSABLE or not ins:
        return False
    src = producer.get(ins[0])
    while src is not None and src.op_type in QUANT_OPS:
        src = producer.get(src.input[0])
    return src is not None and src.op_type in FUSE_INTO
