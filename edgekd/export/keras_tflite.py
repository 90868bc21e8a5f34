"""Keras → .tflite with ``tf.lite.TFLiteConverter``, in the four precisions of the torch
path, each file behind the same TFLite parity gate (LiteRT against its Keras parent on a
batch size the converter did not see) and, for microcontroller runs, the TFLite Micro hop.

- ``fp32``: ``from_keras_model`` as is.
- ``fp16``: ``Optimize.DEFAULT`` with ``supported_types = [float16]`` (float16 weights,
  float compute).
- ``dynamic_int8``: ``Optimize.DEFAULT`` alone (int8 weights, activations quantized at run
  time by the kernels).
- ``int8``: full integer (``TFLITE_BUILTINS_INT8``). From a QAT student the ranges its
  fake-quant ops learned are used; otherwise a representative dataset (the calibration split)
  calibrates them. ``int8_io`` gives int8 input/output tensors (microcontrollers).

Lineage: the int8 file's parent is the QAT student when QAT ran, the float files' is the
float student (pruned or not); every file records ``framework: tensorflow``.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekd.artifact import Artifact
from edgekd.errors import DataError, StageError, UsageError
from edgekd.fileio import atomic_write_bytes
from edgekd.passes import Services, pick

if TYPE_CHECKING:
    from edgekd.export.parity import Exported
    from edgekd.export.tflite_config import TfliteConfig
    from edgekd.recipe.schema import Recipe

PRECISIONS = ("fp32", "fp16", "dynamic_int8", "int8")


def convert(model: Any, precision: str, calib: np.ndarray | None, int8_io: bool) -> bytes:
    """The ``.tflite`` bytes of ``model`` at ``precision`` (see the module docstring)."""
    from edgekd.backends import import_tensorflow
    from edgekd.noise import drop_stderr_lines, quiet_calls

    tf, _ = import_tensorflow()
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if precision != "fp32":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "fp16":
        conv.target_spec.supported_types = [tf.float16]
    if precision == "int8":
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if calib is not None:
            conv.representative_dataset = lambda: ([calib[i : i + 1]] for i in range(len(calib)))
        if int8_io:
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
    try:
        # the calibrator's C++ summary line ("fully_quantize: 0, inference_type: 6, ...") and
        # the QAT-input warning are the converter talking to itself
        with quiet_calls(), drop_stderr_lines("fully_quantize:"), warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Statistics for quantized inputs were expected")
            return bytes(conv.convert())
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StageError(f"TFLiteConverter ({precision}) failed: {first[:300]}") from None


def check_representative(calib: Any, model: Any) -> np.ndarray:
    """A representative dataset as float32 (N, *input), or a ``DataError`` naming both
    shapes (exit 2)."""
    want = tuple(model.input_shape[1:])
    arr = np.asarray(calib)
    if not np.issubdtype(arr.dtype, np.number):
        raise DataError(f"representative dataset: numbers expected, got dtype {arr.dtype}")
    if arr.ndim != len(want) + 1 or tuple(arr.shape[1:]) != want:
        shape = "(N, " + ", ".join(str(d) for d in want) + ")"
        raise DataError(
            f"representative dataset has shape {tuple(arr.shape)}; the Keras model's input "
            f"is {shape}"
        )
    if len(arr) == 0 or not np.all(np.isfinite(arr)):
        raise DataError("representative dataset: empty, or NaN/infinite values")
    return np.ascontiguousarray(arr, dtype=np.float32)


def export_keras_tflite(
    model: Any,
    path: str | Path,
    precision: str = "fp32",
    calib: Any = None,
    int8_io: bool = False,
    *,
    parity_x: Any,
    cfg: TfliteConfig | None = None,
) -> Exported:
    """Convert ``model`` (a Keras 2 model; a TFMOT QAT model for QAT int8), write ``path``
    and compare it with ``model`` on ``parity_x`` (LiteRT vs Keras: elementwise for float
    files, top-1 agreement for quantized ones). ``calib`` (the representative dataset) is
    required for int8 unless ``model`` is QAT-trained."""
    from edgekd.export.parity import Exported, compare_outputs
    from edgekd.export.tflite_config import TfliteConfig
    from edgekd.export.tflite_export import describe_tflite
    from edgekd.runtime.litert import TfliteRunner

    if precision not in PRECISIONS:
        raise UsageError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if int8_io and precision != "int8":
        raise UsageError(f"int8 I/O needs precision int8 (got {precision})")
    qat = is_qat(model)
    if precision == "int8" and calib is None and not qat:
        raise UsageError("int8 export of a Keras model needs a representative dataset")
    rep = check_representative(calib, model) if calib is not None else None
    cfg = cfg or TfliteConfig()
    start = time.perf_counter()
    atomic_write_bytes(path, convert(model, precision, rep, int8_io))
    seconds = time.perf_counter() - start
    x = np.ascontiguousarray(parity_x, dtype=np.float32)
    reference = np.asarray(model.predict(x, batch_size=256, verbose=0), np.float32)
    atol, rtol, agree = cfg.tolerances(precision)
    report = compare_outputs(
        {"logits": reference},
        {"logits": TfliteRunner(path).predict(x)},
        atol,
        rtol,
        min_top1_agreement=agree,
    )
    meta = describe_tflite(path)
    meta.update(
        precision=precision,
        int8_io=int8_io,
        converter=f"tf.lite.TFLiteConverter {_tf_version()}",
        quantizer="TFMOT QAT ranges" if precision == "int8" and qat else _quantizer(precision),
        calibration_samples=None if rep is None or qat else int(len(rep)),
        convert_seconds=round(seconds, 3),
    )
    return Exported(Path(path), "tflite", precision, report, meta)


def is_qat(model: Any) -> bool:
    """Whether ``model`` carries TFMOT's fake-quant wrappers."""
    return any(type(layer).__name__.startswith("Quantize") for layer in model.layers)


def _quantizer(precision: str) -> str | None:
    return {
        "fp16": "TFLiteConverter float16 weights",
        "dynamic_int8": "TFLiteConverter dynamic range",
        "int8": "TFLiteConverter full integer (representative dataset)",
    }.get(precision)


def _tf_version() -> str:
    from importlib import metadata

    return metadata.version("tensorflow")


def run(inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services) -> list[Artifact]:
    """One file per ``export.tflite.precision``: float ones from the float student, int8
    from the QAT student when there is one; then the TFLite Micro hop for MCU targets."""
    from edgekd.export.stage import _artifact, parity_inputs, tflite_filename
    from edgekd.export.tflm_hop import mcu_hop_for_run
    from edgekd.models.keras_files import load_student
    from edgekd.profile.targets import load_target

    t, data = cfg.export.tflite, env.data
    ids = [a.id for a in inputs]
    parent = pick(inputs, next(i for i in ("student-pruned", "student") if i in ids))
    qat = pick(inputs, "student-qat") if "student-qat" in ids else None
    models = {parent.id: load_student(parent.absolute(run_dir))}
    if qat is not None:
        models[qat.id] = load_student(qat.absolute(run_dir))
    parity_x = np.asarray(parity_inputs(data), np.float32)
    task = env.reporter.task("export TFLite (TFLiteConverter)", len(t.precision))
    made: list[tuple[Exported, Artifact]] = []
    try:
        for i, precision in enumerate(t.precision):
            src = qat if precision == "int8" and qat is not None else parent
            int8_io = t.int8_io and precision == "int8"
            result = export_keras_tflite(
                models[src.id],
                run_dir / tflite_filename("student", precision, int8_io),
                precision,
                calib=data.calib.take(t.calib_samples) if precision == "int8" else None,
                int8_io=int8_io,
                parity_x=parity_x,
                cfg=t,
            )
            result.meta["path"] = result.path.name
            made.append((result, src))
            task.update(i + 1)
    finally:
        task.close()
    for_mcu = any(load_target(n).kind == "mcu" for n in cfg.targets.names)
    hop_failed = mcu_hop_for_run(
        run_dir, [r.meta for r, _ in made], parity_x, for_mcu, t.min_top1_agreement
    )
    out = []
    for result, src in made:
        art_id = f"student-tflite-{result.precision}" + ("-io" if result.meta["int8_io"] else "")
        art = _artifact(result, art_id, src, run_dir, {"tflite": result.meta})
        art.extra["framework"] = "tensorflow"
        hop = [m for m in hop_failed if m.startswith(f"{art.path} on TFLite Micro")]
        if hop and art.status == "ok":
            art.status = "failed"
            art.extra.update(error="parity check failed for " + hop[0], error_kind="parity")
        out.append(art)
    return out
