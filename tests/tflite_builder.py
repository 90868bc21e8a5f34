"""Hand-built TFLite flatbuffers for the corpus (``tests/corpus.py``): written with the schema
bindings that ship with ai-edge-litert (``schema_py_generated``), so building one takes
milliseconds and needs no converter.

- ``tflite_mlp``: a float MLP with a ``serving_default`` signature (what ai-edge-quantizer
  calibrates through);
- ``tflite_mlp_fp16``: the same with float16 weights dequantized at load (``DEQUANTIZE``);
- ``tflite_variable``: streaming state: a resource variable (``VAR_HANDLE`` /
  ``ASSIGN_VARIABLE`` / ``READ_VARIABLE``) and a variable tensor (``is_variable``);
- ``tflite_custom``: a ``CUSTOM`` op that LiteRT runs with its default delegate (XNNPACK's
  ``Convolution2DTransposeBias``, as MediaPipe models use) and one that nothing resolves.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.corpus import CorpusModel

TYPES = {np.dtype(np.float32): 0, np.dtype(np.float16): 1, np.dtype(np.int32): 2,
         np.dtype(np.int64): 4, np.dtype(np.int8): 9}  # fmt: skip
RESOURCE = 13


@dataclass
class Graph:
    """A subgraph under construction: tensors, buffers and operators."""

    tensors: list[Any] = field(default_factory=list)
    buffers: list[bytes] = field(default_factory=lambda: [b""])  # buffer 0 is the empty one
    ops: list[tuple[str, list[int], list[int], Any, int, bytes | None]] = field(
        default_factory=list
    )

    def tensor(
        self, name: str, shape: list[int], dtype: Any = np.float32, data: Any = None,
        variable: bool = False, type_id: int | None = None,
    ) -> int:  # fmt: skip
        from ai_edge_litert import schema_py_generated as s

        t = s.TensorT()
        t.name, t.shape, t.isVariable = name, list(shape), variable
        t.type = type_id if type_id is not None else TYPES[np.dtype(dtype)]
        t.buffer = 0
        if data is not None:
            self.buffers.append(np.ascontiguousarray(data, dtype=dtype).tobytes())
            t.buffer = len(self.buffers) - 1
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, name: str, ins: list[int], outs: list[int], options: Any = None,
           options_type: int = 0, custom: bytes | None = None) -> None:  # fmt: skip
        self.ops.append((name, ins, outs, options, options_type, custom))


def serialize(g: Graph, inputs: list[int], outputs: list[int], sig: dict[str, int] | None = None,
              out_sig: dict[str, int] | None = None) -> bytes:  # fmt: skip
    """The flatbuffer of a one-subgraph model with a ``serving_default`` signature."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    builtin = {k: v for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    codes: list[str] = []
    model = s.ModelT()
    model.version = 3
    sub = s.SubGraphT()
    sub.tensors, sub.inputs, sub.outputs, sub.operators, sub.name = (
        g.tensors,
        inputs,
        outputs,
        [],
        "main",
    )
    for name, ins, outs, options, options_type, custom in g.ops:
        if name not in codes:
            codes.append(name)
        op = s.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = codes.index(name), ins, outs
        op.builtinOptionsType, op.builtinOptions = options_type, options
        if custom is not None:
            op.customOptions = list(custom)
        sub.operators.append(op)
    model.operatorCodes = []
    for name in codes:
        code = s.OperatorCodeT()
        if name.startswith("CUSTOM:"):
            code.builtinCode, code.customCode = builtin["CUSTOM"], name[7:]
        else:
            code.builtinCode = builtin[name]
        code.deprecatedBuiltinCode = min(code.builtinCode, 127)
        code.version = 1
        model.operatorCodes.append(code)
    model.subgraphs = [sub]
    model.buffers = []
    for data in g.buffers:
        b = s.BufferT()
        b.data = list(data) if data else None
        model.buffers.append(b)
    signature = s.SignatureDefT()
    signature.signatureKey, signature.subgraphIndex = "serving_default", 0
    signature.inputs = [
        _map(n, i) for n, i in (sig or {f"in{k}": i for k, i in enumerate(inputs)}).items()
    ]
    signature.outputs = [
        _map(n, i) for n, i in (out_sig or {f"out{k}": i for k, i in enumerate(outputs)}).items()
    ]
    model.signatureDefs = [signature]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _map(name: str, index: int) -> Any:
    from ai_edge_litert import schema_py_generated as s

    m = s.TensorMapT()
    m.name, m.tensorIndex = name, index
    return m


def _fc_options(relu: bool = False) -> tuple[Any, int]:
    from ai_edge_litert import schema_py_generated as s

    o = s.FullyConnectedOptionsT()
    o.fusedActivationFunction = 1 if relu else 0
    return o, s.BuiltinOptions.FullyConnectedOptions


def _mlp(fp16: bool) -> tuple[Graph, list[int], list[int]]:
    """x (1, 16) -> FC(32) + ReLU -> FC(10): 16*32 + 32*10 MACs, 16*32+32+32*10+10 params."""
    rng = np.random.default_rng(9)
    g = Graph()
    x = g.tensor("x", [1, 16])

    def weight(name: str, shape: list[int]) -> int:
        w = (rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32)
        if not fp16:
            return g.tensor(name, shape, np.float32, w)
        half = g.tensor(name + "_fp16", shape, np.float16, w.astype(np.float16))
        full = g.tensor(name, shape)
        g.op("DEQUANTIZE", [half], [full])
        return full

    w1, b1 = weight("w1", [32, 16]), g.tensor("b1", [32], np.float32, np.zeros(32))
    w2, b2 = weight("w2", [10, 32]), g.tensor("b2", [10], np.float32, 0.1 * np.arange(10))
    h, y = g.tensor("h", [1, 32]), g.tensor("logits", [1, 10])
    g.op("FULLY_CONNECTED", [x, w1, b1], [h], *_fc_options(relu=True))
    g.op("FULLY_CONNECTED", [h, w2, b2], [y], *_fc_options())
    return g, [x], [y]


def _write(path: Path, data: bytes) -> Path:
    if not path.is_file():
        path.write_bytes(data)
    return path


def tflite_mlp(directory: Path) -> CorpusModel:
    g, ins, outs = _mlp(fp16=False)
    path = _write(
        directory / "mlp.tflite", serialize(g, ins, outs, {"x": ins[0]}, {"logits": outs[0]})
    )
    rng = np.random.default_rng(10)
    x = rng.standard_normal((160, 16)).astype(np.float32)
    return CorpusModel(
        "tflite_mlp", path, "float TFLite in",
        feeds={"x": x[:1]}, calib={"x": x},
        expected={"macs": 16 * 32 + 32 * 10, "params": 16 * 32 + 32 + 32 * 10 + 10},
    )  # fmt: skip


def tflite_mlp_fp16(directory: Path) -> CorpusModel:
    g, ins, outs = _mlp(fp16=True)
    path = _write(
        directory / "mlp_fp16.tflite", serialize(g, ins, outs, {"x": ins[0]}, {"logits": outs[0]})
    )
    m = tflite_mlp(directory)
    return CorpusModel("tflite_mlp_fp16", path, "fp16 TFLite in", m.input_shapes, m.feeds, m.calib,
                       {**m.expected})  # fmt: skip


def tflite_variable(directory: Path) -> CorpusModel:
    """x (1, 256) -> ASSIGN_VARIABLE(state) ; READ_VARIABLE(state) + carry (is_variable) -> y.
    Persistent bytes: the resource variable's value (1 KiB) + the variable tensor (1 KiB)."""
    from ai_edge_litert import schema_py_generated as s

    g = Graph()
    x = g.tensor("x", [1, 256])
    handle = g.tensor("state_handle", [], type_id=RESOURCE)
    read = g.tensor("state_read", [1, 256])
    carry = g.tensor("carry", [1, 256], variable=True)
    y = g.tensor("y", [1, 256])
    opts = s.VarHandleOptionsT()
    opts.sharedName = "state"
    g.op("VAR_HANDLE", [], [handle], opts, s.BuiltinOptions.VarHandleOptions)
    g.op(
        "ASSIGN_VARIABLE",
        [handle, x],
        [],
        s.AssignVariableOptionsT(),
        s.BuiltinOptions.AssignVariableOptions,
    )
    g.op(
        "READ_VARIABLE",
        [handle],
        [read],
        s.ReadVariableOptionsT(),
        s.BuiltinOptions.ReadVariableOptions,
    )
    add = s.AddOptionsT()
    g.op("ADD", [read, carry], [y], add, s.BuiltinOptions.AddOptions)
    path = _write(directory / "variable.tflite", serialize(g, [x], [y], {"x": x}, {"y": y}))
    rng = np.random.default_rng(11)
    xs = rng.standard_normal((8, 256)).astype(np.float32)
    return CorpusModel(
        "tflite_variable", path, "persistent variable tensors",
        feeds={"x": xs[:1]}, calib={"x": xs}, expected={"persistent_bytes": 2 * 256 * 4},
    )  # fmt: skip


def tflite_custom(directory: Path, code: str = "Convolution2DTransposeBias") -> CorpusModel:
    """x (1, 4, 4, 2) -> CUSTOM ``code`` (a 2x2 stride-2 transposed conv with bias, options in
    TfLiteTransposeConvParams layout: padding, stride_w, stride_h) -> y (1, 8, 8, 3)."""
    rng = np.random.default_rng(12)
    g = Graph()
    x = g.tensor("x", [1, 4, 4, 2])
    w = g.tensor("w", [3, 2, 2, 2], np.float32, rng.standard_normal((3, 2, 2, 2)))
    b = g.tensor("b", [3], np.float32, np.zeros(3))
    y = g.tensor("y", [1, 8, 8, 3])
    params = struct.pack("<iii", 2, 2, 2)  # padding VALID, stride_w 2, stride_h 2
    g.op(f"CUSTOM:{code}", [x, w, b], [y], custom=params)
    name = "custom.tflite" if code == "Convolution2DTransposeBias" else f"custom_{code}.tflite"
    path = _write(directory / name, serialize(g, [x], [y], {"x": x}, {"y": y}))
    return CorpusModel(
        "tflite_custom", path, "a custom op LiteRT runs with its default delegate",
        feeds={"x": rng.standard_normal((1, 4, 4, 2)).astype(np.float32)},
    )  # fmt: skip


def tflite_unknown_custom(directory: Path) -> CorpusModel:
    m = tflite_custom(directory, code="NoSuchOp")
    m.name, m.defect = "tflite_unknown_custom", "a custom op nothing resolves"
    return m


TFLITE_BUILDERS: dict[str, Callable[[Path], CorpusModel]] = {
    "tflite_mlp": tflite_mlp,
    "tflite_mlp_fp16": tflite_mlp_fp16,
    "tflite_variable": tflite_variable,
    "tflite_custom": tflite_custom,
    "tflite_unknown_custom": tflite_unknown_custom,
}
