"""An independent MAC count from the shapes onnxruntime actually executes.

The model runs once under onnxruntime's profiler with graph optimizations off (so every node
of the file runs as itself); each node event of the trace carries the input and output shapes
of that execution, subgraph nodes and every ``Loop`` iteration included. MACs are computed
from those shapes with the operator formulas, written here separately from ``onnx_ops`` (which
works from inferred shapes), so the two counts check each other. Only node attributes
(kernel size, group, direction, equation) are read from the file.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgekd.errors import require


def _prod(xs: list[int]) -> int:
    return math.prod(int(x) for x in xs)


def _shapes(entries: list[dict[str, list[int]]]) -> list[list[int]]:
    return [next(iter(e.values())) for e in entries]


def _attrs(model: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """node name -> (op type, attributes) over the graph and its subgraphs."""
    from onnx import helper

    out: dict[str, tuple[str, dict[str, Any]]] = {}

    def visit(graph: Any) -> None:
        for node in graph.node:
            attrs = {}
            for a in node.attribute:
                if a.type in (a.GRAPH, a.GRAPHS):
                    for g in [a.g] if a.type == a.GRAPH else list(a.graphs):
                        visit(g)
                else:
                    value = helper.get_attribute_value(a)
                    attrs[a.name] = value.decode() if isinstance(value, bytes) else value
            out[node.name] = (node.op_type, attrs)

    visit(model.graph)
    return out


def _name_nodes(model: Any) -> None:
    """Give every node a unique name (the trace names events after nodes)."""
    seen: set[str] = set()
    counter = 0

    def visit(graph: Any) -> None:
        nonlocal counter
        for node in graph.node:
            if not node.name or node.name in seen:
                node.name = f"_xc_{node.op_type}_{counter}"
                counter += 1
            seen.add(node.name)
            for a in node.attribute:
                for g in [a.g] if a.type == a.GRAPH else list(a.graphs):
                    visit(g)

    visit(model.graph)


def node_macs(op: str, attrs: dict[str, Any], ins: list[list[int]], outs: list[list[int]]) -> int:
    """MACs of one executed node from its runtime shapes (0 for ops that do not multiply and
    accumulate). Weight inputs that onnxruntime pre-packed may be missing from ``ins``."""
    out_n = _prod(outs[0]) if outs else 0
    if op in ("Conv", "ConvInteger", "QLinearConv"):
        cin = ins[0][1]
        kernel = attrs.get("kernel_shape") or (ins[1 if op != "QLinearConv" else 3][2:])
        return out_n * (cin // int(attrs.get("group", 1))) * _prod(list(kernel))
    if op == "ConvTranspose":
        cout = outs[0][1]
        kernel = attrs.get("kernel_shape") or ins[1][2:]
        return _prod(ins[0]) * (cout // int(attrs.get("group", 1))) * _prod(list(kernel))
    if op in ("MatMul", "MatMulInteger", "QLinearMatMul"):
        return out_n * ins[0][-1]
    if op == "Gemm":
        return out_n * (ins[0][0] if attrs.get("transA", 0) else ins[0][1])
    if op in ("LSTM", "GRU", "RNN"):
        gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
        x = ins[0]
        seq, batch = (x[1], x[0]) if attrs.get("layout", 0) else (x[0], x[1])
        dirs = 2 if attrs.get("direction", "forward") == "bidirectional" else 1
        hidden = int(attrs["hidden_size"])
        return seq * batch * dirs * gates * hidden * (x[2] + hidden)
    if op == "Einsum":
        terms = str(attrs["equation"]).replace(" ", "").split("->")[0].split(",")
        if len(terms) < 2:
            return 0
        sizes: dict[str, int] = {}
        for term, shape in zip(terms, ins, strict=False):
            for c, d in zip(term, shape, strict=False):
                sizes[c] = max(sizes.get(c, 1), d)
        return _prod(list(sizes.values())) * (len(terms) - 1)
    if op == "Attention" and len(ins) >= 3 and len(ins[0]) == 4:  # (B, heads, S, d)
        b, heads, sq, dq = ins[0]
        return b * heads * sq * ins[1][2] * (dq + ins[2][3])
    return 0


def executed_macs(path: str | Path, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
    """Run ``path`` once on ``feeds`` under onnxruntime's profiler; MACs of what ran.

    Returns ``{"macs": total, "by_op": {op type: MACs}, "nodes": events counted}``.
    """
    onnx = require("onnx", "onnx")
    ort = require("onnxruntime", "onnx")
    model = onnx.load(str(path))
    _name_nodes(model)
    table = _attrs(model)
    with tempfile.TemporaryDirectory() as tmp:
        named = Path(tmp) / "named.onnx"
        onnx.save(model, str(named))
        opts = ort.SessionOptions()
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(tmp, "trace")
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        opts.log_severity_level = 3
        opts.intra_op_num_threads = 1
        sess = ort.InferenceSession(str(named), opts, providers=["CPUExecutionProvider"])
        sess.run(None, feeds)
        trace = Path(sess.end_profiling())
        events = json.loads(trace.read_text())
    by_op: dict[str, int] = {}
    count = 0
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        name = e["name"][: -len("_kernel_time")]
        op, attrs = table.get(name, (e.get("args", {}).get("op_name", ""), {}))
        args = e.get("args", {})
        ins = _shapes(args.get("input_type_shape", []))
        outs = _shapes(args.get("output_type_shape", []))
        macs = node_macs(op, attrs, ins, outs)
        by_op[op] = by_op.get(op, 0) + macs
        count += 1
    return {"macs": int(sum(by_op.values())), "by_op": by_op, "nodes": count}


def tflite_executed_macs(path: str | Path) -> dict[str, Any]:
    """MACs of a .tflite file from the tensor shapes LiteRT allocates (no delegate, so every
    op stays an op): fully connected and batch matmul ``out x K``, conv ``out x kh x kw x
    Cin/g``, depthwise ``out x kh x kw``, transposed conv ``in x kh x kw x Cout``."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interp.allocate_tensors()
    shape = {d["index"]: [int(x) for x in d["shape"]] for d in interp.get_tensor_details()}
    by_op: dict[str, int] = {}
    for op in interp._get_ops_details():  # the interpreter's own node list (private API)
        name, ins, outs = op["op_name"], [int(i) for i in op["inputs"]], list(op["outputs"])
        out_n = _prod(shape.get(int(outs[0]), [])) if len(outs) else 0
        w = shape.get(ins[1], []) if len(ins) > 1 else []
        if name in ("FULLY_CONNECTED", "BATCH_MATMUL"):
            macs = out_n * shape[ins[0]][-1]
        elif name == "CONV_2D":
            macs = out_n * _prod(w[1:])
        elif name == "DEPTHWISE_CONV_2D":
            macs = out_n * _prod(w[1:3])
        elif name == "TRANSPOSE_CONV" and len(ins) > 2:
            macs = _prod(shape[ins[2]]) * _prod(w[:3])
        else:
            macs = 0
        by_op[name] = by_op.get(name, 0) + macs
    return {"macs": int(sum(by_op.values())), "by_op": by_op}
