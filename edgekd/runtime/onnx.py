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


ONNX_DTYPES = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(int32)": np.int32,
               "tensor(float16)": np.float16, "tensor(double)": np.float64}  # fmt: skip


class OnnxRunner:
    """An onnxruntime CPU session; the first output is returned as logits.

    Inputs are one array (single-input models) or a dict by input name / a tuple in the
    model's input order (text models: ``input_ids``, ``attention_mask``)."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        self.path = Path(path)
        check_onnx_file(self.path)
        self.session = session(self.path, threads)
        self.inputs = self.session.get_inputs()
        self.input = self.inputs[0]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def feeds(self, x: Any) -> dict[str, np.ndarray]:
        """``{input name: array}`` in each input's own dtype."""
        from edgekd.data.inputs import as_feeds

        names = [i.name for i in self.inputs]
        given = x if isinstance(x, dict) and set(x) == set(names) else as_feeds(x, names)
        return {
            i.name: np.ascontiguousarray(given[i.name], dtype=ONNX_DTYPES.get(i.type, np.float32))
            for i in self.inputs
        }

    def run(self, x: Any) -> dict[str, np.ndarray]:
        """All outputs by name for one batch."""
        outs = self.session.run(None, self.feeds(x))
        return dict(zip(self.output_names, outs, strict=True))

    def predict(self, x: Any, batch_size: int = 256) -> np.ndarray:
        """First output (logits) for ``x`` (an array, a dict of arrays, or a data split read
        batch by batch), batched."""
        from edgekd.data.dataset import Split
        from edgekd.data.inputs import rows, select

        if isinstance(x, Split):
            batches = x.batches(batch_size)
        else:
            batches = (select(x, slice(i, i + batch_size)) for i in range(0, rows(x), batch_size))
        parts = [self.session.run([self.output_names[0]], self.feeds(b))[0] for b in batches]
        return np.concatenate(parts).astype(np.float32)
