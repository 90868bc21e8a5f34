"""onnxruntime on CPU: load a model file and run it on numpy batches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgekd.errors import ModelFileError, require


def read_onnx(path: str | Path, runnable: bool = False) -> Any:
    """The ``ModelProto`` of an ONNX file that passes ``onnx.checker``; a missing, truncated or
    non-ONNX file (an empty file parses as an empty model) is a ``ModelFileError`` naming it.
    ``runnable``: onnxruntime must also load it (the checker lets a graph output typed int8
    over a float op through; quantization's own sessions then fail with a traceback)."""
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
    check_onnx_model(model, p)
    if runnable:
        session(p)
    return model


def session(path: Path, threads: int | None = None) -> Any:
    """An onnxruntime CPU session; a model it refuses is a ``ModelFileError`` naming it."""
    ort = require("onnxruntime", "onnx")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(
            str(path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"{path}: onnxruntime cannot load it: {first}") from None


# INT4, UINT4, FLOAT4E2M1 (onnx.proto TensorProto.DataType): two elements per byte
PACKED_4BIT = {21, 22, 23}


def check_onnx_model(model: Any, path: Path) -> None:
    """What ``onnx.checker`` lets through but readers trip on (found by fuzzing): a name or
    op type that is not UTF-8 text (protobuf hands it over as bytes) and an initializer whose
    raw bytes do not fill its shape (onnxruntime fails deep inside with a traceback)."""
    import numpy as np
    from onnx import helper

    g = model.graph

    def bad(what: str) -> ModelFileError:
        return ModelFileError(f"{path}: not a valid ONNX model (corrupt?): {what}")

    for k, node in enumerate(g.node):
        texts = [node.op_type, node.name, node.domain, *node.input, *node.output]
        if not all(isinstance(t, str) for t in texts):
            raise bad(f"node {k} has an op type or name that is not UTF-8 text")
    for vi in [*g.input, *g.output, *g.value_info, *g.initializer]:
        if not isinstance(vi.name, str):
            raise bad(f"a graph value's name is not UTF-8 text ({vi.name[:40]!r})")
    for init in g.initializer:
        if not init.raw_data:
            continue
        try:
            item = np.dtype(helper.tensor_dtype_to_np_dtype(init.data_type)).itemsize
        except Exception:
            raise bad(f"initializer {init.name!r} has unknown data type {init.data_type}") from None
        n = int(np.prod(init.dims, dtype=np.int64))
        need = (n + 1) // 2 if init.data_type in PACKED_4BIT else n * item
        if len(init.raw_data) != need:
            raise bad(
                f"initializer {init.name!r} holds {len(init.raw_data)} bytes but its shape "
                f"{list(init.dims)} needs {need}"
            )


def check_onnx_file(path: str | Path) -> None:
    """Raise ``ModelFileError`` naming the file if it is missing, truncated or not ONNX."""
    read_onnx(path)


class OnnxRunner:
    """An onnxruntime CPU session with one input and the first output returned as logits."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        self.path = Path(path)
        check_onnx_file(self.path)
        self.session = session(self.path, threads)
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
