"""Give a full-integer .tflite float32 inputs and outputs.

litert-torch's PT2E path writes int8 input and output tensors (what a microcontroller wants).
For phones, float I/O is easier: this adds a QUANTIZE op in front of each int8 input and a
DEQUANTIZE op after each int8 output — the inverse of TensorFlow's
``tensorflow/lite/tools/optimize/python/modify_model_interface``. Signature maps are updated so
the signature runner sees the float tensors. Op versions follow
``tensorflow/lite/tools/versioning/op_version.cc`` (QUANTIZE to int8 and DEQUANTIZE from int8
are version 2).
"""

from __future__ import annotations

from typing import Any

_INT_TYPES = ("INT8", "UINT8")


def with_float_io(buf: bytes) -> bytes:
    """A copy of the flatbuffer ``buf`` whose int8/uint8 graph inputs/outputs are float32."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(buf), 0)
    graph = model.subgraphs[0]
    int_types = {getattr(schema.TensorType, t) for t in _INT_TYPES}
    quant = _opcode(model, schema, schema.BuiltinOperator.QUANTIZE)
    dequant = _opcode(model, schema, schema.BuiltinOperator.DEQUANTIZE)
    remap: dict[int, int] = {}
    for pos, idx in enumerate(list(graph.inputs)):
        if graph.tensors[idx].type in int_types:
            new = _float_twin(model, graph, schema, idx)
            graph.operators.insert(0, _operator(schema, quant, [new], [idx]))
            graph.inputs[pos] = remap[idx] = new
    for pos, idx in enumerate(list(graph.outputs)):
        if graph.tensors[idx].type in int_types:
            new = _float_twin(model, graph, schema, idx)
            graph.operators.append(_operator(schema, dequant, [idx], [new]))
            graph.outputs[pos] = remap[idx] = new
    for sig in model.signatureDefs or []:
        for tmap in list(sig.inputs or []) + list(sig.outputs or []):
            tmap.tensorIndex = remap.get(tmap.tensorIndex, tmap.tensorIndex)
    builder = flatbuffers.Builder(max(1024, len(buf)))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _opcode(model: Any, schema: Any, builtin: int) -> int:
    for i, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            code.version = max(code.version, 2)
            return i
    code = schema.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)  # schema.fbs: placeholder above 127
    code.version = 2
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _float_twin(model: Any, graph: Any, schema: Any, idx: int) -> int:
    """Add a float32 tensor shaped like tensor ``idx``; it takes over its name."""
    old = graph.tensors[idx]
    new = schema.TensorT()
    new.shape = old.shape
    new.shapeSignature = old.shapeSignature
    new.type = schema.TensorType.FLOAT32
    new.name = old.name
    old.name = (old.name or b"") + b"_int8"
    model.buffers.append(schema.BufferT())
    new.buffer = len(model.buffers) - 1
    graph.tensors.append(new)
    return len(graph.tensors) - 1


def _operator(schema: Any, opcode: int, inputs: list[int], outputs: list[int]) -> Any:
    op = schema.OperatorT()
    op.opcodeIndex = opcode
    op.inputs = inputs
    op.outputs = outputs
    return op
