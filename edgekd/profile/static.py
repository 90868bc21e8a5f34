"""Static analysis entry point: detect the model format and summarise the graph."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from edgekd.errors import ModelFileError
from edgekd.profile.graph import GraphSummary
from edgekd.profile.shapes import check_given


def detect_format(path: str | Path) -> str:
    """'onnx' or 'tflite' from the file's content (TFLite carries the ``TFL3`` identifier at
    byte 4, FlatBuffers spec); anything else is a ``ModelFileError``."""
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"{p}: model file not found")
    head = p.read_bytes()[:16]
    if len(head) >= 8 and head[4:8] == b"TFL3":
        return "tflite"
    if p.suffix.lower() == ".onnx" or (head[:1] == b"\x08" and len(head) > 2):
        return "onnx"  # ONNX ModelProto starts with field 1 (ir_version, varint): 0x08
    raise ModelFileError(
        f"{p}: not an ONNX or TFLite model (expected a .onnx protobuf or a .tflite "
        "flatbuffer with the TFL3 identifier)"
    )


def analyze(path: str | Path, input_shapes: Mapping[str, list[int]] | None = None) -> GraphSummary:
    """Params, weight bytes, MACs per op, precision and peak activation memory of a model, at
    ``input_shapes`` ({input name: shape}; needed for symbolic dims other than the batch)."""
    p = Path(path)
    fmt = detect_format(p)
    given = check_given(input_shapes or {})
    if fmt == "tflite":
        from edgekd.profile.tflite_graph import analyze_tflite

        return analyze_tflite(p, given)
    from edgekd.profile.onnx_graph import analyze_onnx

    return analyze_onnx(p, given)
