"""Static analysis entry point: detect the model format and summarise the graph."""

from __future__ import annotations

from pathlib import Path

from edgekd.errors import ModelFileError
from edgekd.profile.graph import GraphSummary


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


def analyze(path: str | Path) -> GraphSummary:
    """Params, weight bytes, MACs per op, precision and peak activation memory of a model."""
    p = Path(path)
    fmt = detect_format(p)
    if fmt == "tflite":
        from edgekd.profile.tflite_graph import analyze_tflite

        return analyze_tflite(p)
    from edgekd.profile.onnx_graph import analyze_onnx

    return analyze_onnx(p)
