"""onnxruntime on CPU: load a model file and run it on numpy batches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgekd.errors import ModelFileError, require


def read_onnx(path: str | Path) -> Any:
    """The ``ModelProto`` of an ONNX file that passes ``onnx.checker``; a missing, truncated or
    non-ONNX file (an empty file parses as an empty model) is a ``ModelFileError`` naming it."""
    onnx = require("onnx", "onnx")
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"model file not found: {p}")
    try:
        model = onnx.load(str(p))
        onnx.checker.check_model(model)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(
            f"{p}: not a valid ONNX model (corrupt or truncated?): {first}"
        ) from None
    if len(model.graph.node) == 0:
        raise ModelFileError(f"{p}: not a valid ONNX model (empty or truncated?): no nodes")
    return model


def check_onnx_file(path: str | Path) -> None:
    """Raise ``ModelFileError`` naming the file if it is missing, truncated or not ONNX."""
    read_onnx(path)


class OnnxRunner:
    """An onnxruntime CPU session with one input and the first output returned as logits."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        ort = require("onnxruntime", "onnx")
        self.path = Path(path)
        check_onnx_file(self.path)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(self.path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise ModelFileError(f"{self.path}: onnxruntime cannot load it: {exc}") from None
        self.input = self.session.get_inputs()[0]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """All outputs by name for one batch."""
        outs = self.session.run(None, {self.input.name: x.astype(np.float32)})
        return dict(zip(self.output_names, outs, strict=True))

    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """First output (logits) for ``x``, batched."""
        parts = [
            self.session.run([self.output_names[0]], {self.input.name: x[i : i + batch_size]})[0]
            for i in range(0, len(x), batch_size)
        ]
        return np.concatenate(parts).astype(np.float32)
