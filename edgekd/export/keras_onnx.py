"""Keras → ONNX with ``tf2onnx`` (``tf2onnx.convert.from_keras``, part of the ``keras``
extra: 1.17 installs cleanly beside TensorFlow 2.21, numpy 2 and protobuf 7), with a dynamic
batch dimension, checked like every export: onnxruntime against the Keras parent on the
parity batch (a size the signature does not fix), elementwise with ``export.atol``/``rtol``.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekd.artifact import Artifact
from edgekd.errors import StageError, require
from edgekd.fileio import atomic_write_bytes
from edgekd.passes import Services, pick

if TYPE_CHECKING:
    from edgekd.export.parity import Exported
    from edgekd.recipe.schema import Recipe


def export_keras_onnx(
    model: Any, path: str | Path, parity_x: np.ndarray, opset: int = 18, atol: float = 1e-4,
    rtol: float = 1e-3,
) -> Exported:  # fmt: skip
    """Convert ``model`` (Keras 2) to ONNX at ``opset``, write ``path``, compare with
    onnxruntime on ``parity_x``."""
    from edgekd.backends import import_tensorflow
    from edgekd.export.parity import Exported, compare_outputs
    from edgekd.noise import quiet_calls
    from edgekd.runtime.onnx import OnnxRunner

    tf, _ = import_tensorflow()
    tf2onnx = require("tf2onnx", "keras")
    spec = (tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="input"),)
    try:
        with quiet_calls():
            proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StageError(f"tf2onnx could not convert the Keras model: {first[:300]}") from None
    atomic_write_bytes(path, proto.SerializeToString())
    x = np.ascontiguousarray(parity_x, dtype=np.float32)
    reference = np.asarray(model.predict(x, verbose=0), np.float32)
    report = compare_outputs(
        {"logits": reference}, {"logits": OnnxRunner(path).predict(x)}, atol, rtol
    )
    meta = {"converter": f"tf2onnx {metadata.version('tf2onnx')}", "opset": opset}
    return Exported(Path(path), "onnx", "fp32", report, meta)


def run(inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services) -> list[Artifact]:
    """``student.onnx`` from the float Keras student (pruned when pruning ran)."""
    from edgekd.export.stage import _artifact
    from edgekd.models.keras_files import load_student

    e, ids = cfg.export, [a.id for a in inputs]
    parent = pick(inputs, next(i for i in ("student-pruned", "student") if i in ids))
    result = export_keras_onnx(
        load_student(parent.absolute(run_dir)),
        run_dir / "student.onnx",
        np.asarray(env.data.val.take(e.parity_batch), np.float32),
        e.opset,
        e.atol,
        e.rtol,
    )
    art = _artifact(result, "student-onnx", parent, run_dir, {"onnx": result.meta})
    art.extra["framework"] = "tf2onnx"
    return [art]
