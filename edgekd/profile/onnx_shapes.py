"""Concrete shapes for every tensor of an ONNX graph, subgraphs included.

The graph inputs are fixed to the resolved input shapes (``shapes.resolve_shapes``), then
ONNX shape inference runs with data propagation (``onnx.shape_inference``, which folds
``Shape -> Gather -> Concat -> Reshape`` chains), then onnxruntime's symbolic shape inference
(``onnxruntime.tools.symbolic_shape_infer``), which resolves what ONNX leaves open (ops whose
output shapes depend on constant inputs, ``If``/``Loop`` branch outputs, contrib ops). A
dimension still unknown after both (a data-dependent size such as ``NonZero``'s) is reported
in the notes and counted as 1.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from collections.abc import Iterator
from typing import Any

from edgekd.errors import ModelFileError, require

Shape = list[int | None]


def subgraphs(node: Any) -> list[tuple[str, Any]]:
    """(attribute name, GraphProto) of a control-flow node (If branches, Loop/Scan body)."""
    out = []
    for a in node.attribute:
        if a.type == a.GRAPH:
            out.append((a.name, a.g))
        elif a.type == a.GRAPHS:
            out.extend((a.name, g) for g in a.graphs)
    return out


def all_graphs(graph: Any) -> Iterator[Any]:
    """``graph`` and every graph nested in it, depth first."""
    yield graph
    for node in graph.node:
        for _, sub in subgraphs(node):
            yield from all_graphs(sub)


def fix_inputs(model: Any, shapes: dict[str, list[int]]) -> Any:
    """A copy of ``model`` whose graph inputs carry ``shapes``."""
    onnx = require("onnx", "onnx")
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for vi in m.graph.input:
        if vi.name not in shapes:
            continue
        dims = vi.type.tensor_type.shape.dim
        for d, size in zip(dims, shapes[vi.name], strict=True):
            d.Clear()
            d.dim_value = int(size)
    return m


def infer(model: Any, shapes: dict[str, list[int]], source: str) -> tuple[Any, list[str]]:
    """``model`` with inputs fixed and value_info filled by both inferences; and notes."""
    onnx = require("onnx", "onnx")
    m = fix_inputs(model, shapes)
    notes: list[str] = []
    try:
        m = onnx.shape_inference.infer_shapes(m, data_prop=True)
    except Exception as exc:
        raise ModelFileError(f"{source}: ONNX shape inference failed ({_first(exc)})") from None
    if _unresolved(m):
        try:
            m = _symbolic(m)
        except Exception as exc:  # an op it does not know: keep ONNX's result
            notes.append(f"onnxruntime symbolic shape inference failed ({_first(exc)})")
    left = _unresolved(m)
    if left:
        shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
        notes.append(
            f"{len(left)} tensors have data-dependent shapes (unknown dims counted as 1): {shown}"
        )
    return m, notes


def _symbolic(model: Any) -> Any:
    """onnxruntime's symbolic shape inference. When it cannot finish it saves
    ``sym_shape_infer_temp.onnx`` (and external data) into the working directory before
    raising, so it runs inside a temporary directory that is removed afterwards."""
    ssi = require("onnxruntime.tools.symbolic_shape_infer", "onnx")
    logging.getLogger("onnxruntime").setLevel(logging.ERROR)
    here = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="edgekd-ssi-") as tmp:
        os.chdir(tmp)  # contextlib.chdir needs Python 3.11
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                out = ssi.SymbolicShapeInference.infer_shapes(model, auto_merge=True)
        finally:
            os.chdir(here)
    if out is None:
        raise RuntimeError("no result")
    return out


def _first(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def tensor_table(model: Any) -> tuple[dict[str, Shape], dict[str, int]]:
    """Shape and ONNX elem_type of every named tensor in the model, subgraphs included.

    Later sources win: declared inputs/outputs, then inferred value_info, then initializers
    and ``Constant`` values (exact).
    """
    from onnx import numpy_helper

    shapes: dict[str, Shape] = {}
    types: dict[str, int] = {}
    graphs = list(all_graphs(model.graph))
    for g in graphs:
        for vi in [*g.input, *g.output, *g.value_info]:
            tt = vi.type.tensor_type
            if not vi.type.HasField("tensor_type"):
                continue
            types[vi.name] = tt.elem_type
            if tt.HasField("shape"):
                dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
                if vi.name not in shapes or None not in dims:
                    shapes[vi.name] = dims
    for g in graphs:
        for t in g.initializer:
            shapes[t.name], types[t.name] = list(t.dims), t.data_type
        for node in g.node:
            if node.op_type == "Constant" and node.output:
                value = constant_value(node, numpy_helper)
                if value is not None:
                    shapes[node.output[0]] = list(value[0])
                    types[node.output[0]] = value[1]
    return shapes, types


def constant_value(node: Any, numpy_helper: Any) -> tuple[list[int], int] | None:
    """(dims, elem_type) of a ``Constant`` node's value, for every form the spec allows."""
    from onnx import TensorProto

    for a in node.attribute:
        if a.name == "value":
            return list(a.t.dims), a.t.data_type
        if a.name == "sparse_value":
            return list(a.sparse_tensor.dims), a.sparse_tensor.values.data_type
        if a.name == "value_float":
            return [], TensorProto.FLOAT
        if a.name == "value_floats":
            return [len(a.floats)], TensorProto.FLOAT
        if a.name == "value_int":
            return [], TensorProto.INT64
        if a.name == "value_ints":
            return [len(a.ints)], TensorProto.INT64
        if a.name in ("value_string", "value_strings"):
            return ([] if a.name == "value_string" else [len(a.strings)]), TensorProto.STRING
    return None


def _unresolved(model: Any) -> list[str]:
    """Names of tensors produced by nodes whose shape is unknown or not fully concrete."""
    known: dict[str, bool] = {}
    for g in all_graphs(model.graph):
        for vi in [*g.value_info, *g.output]:
            tt = vi.type.tensor_type
            ok = tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim)
            known[vi.name] = known.get(vi.name, False) or ok
        for t in g.initializer:
            known[t.name] = True
    left = []
    for g in all_graphs(model.graph):
        for node in g.node:
            if node.op_type == "Constant":
                continue
            left += [o for o in node.output if o and not known.get(o, False)]
    return left
