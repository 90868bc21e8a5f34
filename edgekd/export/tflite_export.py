"""torch → .tflite with litert-torch, in four precisions.

- ``fp32``: ``litert_torch.convert`` (torch.export → StableHLO/TFL MLIR → flatbuffer).
- ``fp16``: the fp32 flatbuffer with weights cast to float16 by ai-edge-quantizer
  (``float_casting``, weight-only: DEQUANTIZE ops restore fp32 for compute). litert-torch 0.10's
  default converter path takes no converter flags, so this is its fp16 route.
- ``dynamic_int8``: the fp32 flatbuffer with int8 per-channel weights by ai-edge-quantizer's
  ``dynamic_wi8_afp32`` recipe; activations are quantized at run time by the kernels.
- ``int8``: full-integer PT2E post-training quantization (``litert_torch.quantize``: symmetric
  per-channel int8 weights, histogram-calibrated int8 activations) calibrated on the
  calibration split, converted with ``QuantConfig(pt2e_quantizer=...)``. The converter gives
  int8 input and output tensors; unless ``int8_io`` is asked for, float32 QUANTIZE/DEQUANTIZE
  boundaries are added so that phones can feed floats (see ``tflite_io.with_float_io``).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from edgekd.errors import DataError, EdgekdError, StageError, UsageError, require
from edgekd.fileio import atomic_write_bytes, sha256_file
from edgekd.noise import quiet_calls

if TYPE_CHECKING:
    import numpy as np

    from edgekd.export.parity import Exported
    from edgekd.export.tflite_config import TfliteConfig


def export_tflite(
    model: Any,
    sample_input: Any,
    path: str | Path,
    precision: str = "fp32",
    calib: Any = None,
    int8_io: bool = False,
    *,
    parity_x: Any = None,
    cfg: TfliteConfig | None = None,
    gate: bool | None = None,
) -> Exported:
    """Convert ``model`` (an ``nn.Module``) traced on ``sample_input``, write ``path`` and
    check the file against ``model`` with LiteRT.

    ``sample_input`` is one array, or a dict of arrays for a model with several inputs (text:
    int64 ``input_ids`` and ``attention_mask``, exported with fixed shapes; integer inputs
    stay integers, an int8 file keeps them int64).
    ``calib`` (N, *sample_input.shape[1:], a dict alike for several inputs) is required for
    ``int8``. Parity runs on ``parity_x`` (default: up to 256 calibration rows, else random
    inputs, or the sample's rows for token inputs) with the tolerances of ``cfg``; float
    files are gated, quantized ones only on real inputs (``gate`` overrides). The result's
    ``meta``: precision, converter and quantizer, file size and sha256, and for input and
    output their name, shape, dtype and (integer tensors) scale and zero-point.
    """
    import numpy as np

    from edgekd.data.inputs import rows, select
    from edgekd.export.parity import Exported, parity_batch, random_inputs
    from edgekd.export.tflite_parity import check_tflite_parity

    if precision not in PRECISIONS:
        raise UsageError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if int8_io and precision != "int8":
        raise UsageError(f"--int8-io needs precision int8 (got {precision})")
    if isinstance(sample_input, dict):
        meta = _export_multi(model, sample_input, path, precision, calib, int8_io)
    else:
        meta = _export_single(model, sample_input, path, precision, calib, int8_io)
    quantized = precision in QUANTIZED
    real = parity_x is not None or calib is not None
    export_batch = int(meta["export_batch"])
    if parity_x is None:
        if calib is not None:
            parity_x = select(calib, slice(0, 256))
        elif isinstance(sample_input, dict):  # token inputs: the sample's rows again
            n = 64 if quantized else 7
            parity_x = {k: np.resize(v, (n, *v.shape[1:])) for k, v in sample_input.items()}
        else:
            shape = tuple(np.shape(sample_input)[1:])
            parity_x = random_inputs(shape, 64 if quantized else 7)
    if not isinstance(parity_x, dict):
        parity_x = np.ascontiguousarray(parity_x, dtype=np.float32)
    x = parity_batch(parity_x, export_batch, rows(parity_x))
    if gate is None:
        gate = not quantized or real  # random inputs say little about top-1 agreement
    report = check_tflite_parity(model, path, x, precision, cfg, gate=gate)
    return Exported(Path(path), "tflite", precision, report, meta)


def _export_single(
    model: Any, sample_input: Any, path: str | Path, precision: str, calib: Any, int8_io: bool
) -> dict[str, Any]:
    """``export_tflite`` for a model with one input: convert, write, describe."""
    import numpy as np

    sample = np.ascontiguousarray(sample_input, dtype=np.float32)
    if sample.ndim < 2:
        raise UsageError(f"sample input needs a batch dimension, got shape {sample.shape}")
    if precision == "int8":
        calib = check_calibration(calib, sample.shape)
    start = time.perf_counter()
    with quiet_calls(), eval_mode(model), _quiet_litert(), _lowering_errors():
        require("litert_torch", "tflite")  # imports torchao, which logs on import
        buf = PRECISIONS[precision](model, sample, calib, int8_io)
    seconds = time.perf_counter() - start
    atomic_write_bytes(path, buf)
    meta = describe_tflite(path)
    meta.update(
        precision=precision,
        int8_io=int8_io,
        converter=f"litert-torch {_version('litert-torch')}",
        quantizer=_quantizer_name(precision),
        calibration_samples=None if calib is None else int(len(calib)),
        export_batch=int(sample.shape[0]),
        export_seconds=round(seconds, 3),
    )
    return meta


def _fp32(model: Any, sample: np.ndarray, calib: np.ndarray | None, int8_io: bool) -> bytes:
    return _convert_float(model, sample)


def _fp16(model: Any, sample: np.ndarray, calib: np.ndarray | None, int8_io: bool) -> bytes:
    return _quantize_flatbuffer(_convert_float(model, sample), "fp16")


def _dynamic_int8(model: Any, sample: np.ndarray, calib: np.ndarray | None, int8_io: bool) -> bytes:
    return _quantize_flatbuffer(_convert_float(model, sample), "dynamic_int8")


def _int8(model: Any, sample: np.ndarray, calib: np.ndarray | None, int8_io: bool) -> bytes:
    assert calib is not None
    buf = _convert_int8_pt2e(model, sample, calib)
    if int8_io:
        return buf
    from edgekd.export.tflite_io import with_float_io

    return with_float_io(buf)


# precision -> converter (model, sample, calibration, int8_io) -> flatbuffer bytes; the
# recipe's export.tflite.precision and `edgekd export --precision` accept these keys
PRECISIONS: dict[str, Callable[[Any, np.ndarray, np.ndarray | None, bool], bytes]] = {
    "fp32": _fp32,
    "fp16": _fp16,
    "dynamic_int8": _dynamic_int8,
    "int8": _int8,
}
QUANTIZED = ("dynamic_int8", "int8")  # gated on top-1 agreement, not elementwise

if TYPE_CHECKING:
    TflitePrecision = str
else:
    TflitePrecision = Literal[tuple(PRECISIONS)]


def _export_multi(
    model: Any, sample: dict[str, np.ndarray], path: str | Path, precision: str, calib: Any,
    int8_io: bool,
) -> dict[str, Any]:  # fmt: skip
    """``export_tflite`` for a model with several inputs (text), each array its own input in
    the dict's order; int8 calibrates on ``calib`` (a dict with the same keys)."""
    import numpy as np
    import torch

    if int8_io:
        raise UsageError(
            "--int8-io: a model with several inputs keeps its integer inputs as they are"
        )
    require("litert_torch", "tflite")
    args = tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in sample.values())
    start = time.perf_counter()
    with eval_mode(model), _quiet_litert():
        if precision == "int8":
            if not isinstance(calib, dict) or set(calib) != set(sample):
                raise UsageError(f"int8 export needs calibration arrays for {', '.join(sample)}")
            b, n = len(args[0]), len(next(iter(calib.values())))
            rows = [
                tuple(torch.from_numpy(np.ascontiguousarray(calib[k][i : i + b])) for k in sample)
                for i in range(0, n - b + 1, b)  # the graph is specialized to the export batch
            ]
            from edgekd.export.tflite_io import with_float_io

            buf = with_float_io(_convert_int8_args(model, args, rows))
        else:
            with _lowering_errors():
                import litert_torch

                buf = bytes(litert_torch.convert(model, args).model_content())
            if precision in ("fp16", "dynamic_int8"):
                buf = _quantize_flatbuffer(buf, precision)
    seconds = time.perf_counter() - start
    atomic_write_bytes(path, buf)
    meta = describe_tflite(path)
    meta.update(
        precision=precision,
        int8_io=False,
        converter=f"litert-torch {_version('litert-torch')}",
        quantizer=_quantizer_name(precision),
        calibration_samples=None if calib is None else int(len(next(iter(calib.values())))),
        export_batch=int(args[0].shape[0]),
        export_seconds=round(seconds, 3),
        inputs=list(sample),
    )
    return meta


def _convert_int8_args(
    model: Any, args: tuple[Any, ...], calib_rows: list[tuple[Any, ...]]
) -> bytes:
    """PT2E static int8 for a model of several inputs (see ``_convert_int8_pt2e``)."""
    import litert_torch
    import torch
    from litert_torch.quantize import quant_config
    from torchao.quantization.pt2e import move_exported_model_to_eval, quantize_pt2e

    from edgekd.export.tflite_pt2e import edge_quantizer

    with _lowering_errors():
        traced = torch.export.export(model, args).module()
        quantizer = edge_quantizer()
        prepared = quantize_pt2e.prepare_pt2e(traced, quantizer)
        with torch.no_grad():
            for row in calib_rows:
                prepared(*row)
        converted = quantize_pt2e.convert_pt2e(prepared, fold_quantize=False)
        move_exported_model_to_eval(converted)
        edge = litert_torch.convert(
            converted, args, quant_config=quant_config.QuantConfig(pt2e_quantizer=quantizer)
        )
        return bytes(edge.model_content())


def check_calibration(calib: np.ndarray | None, input_shape: tuple[int, ...]) -> np.ndarray:
    """Calibration samples as float32 (N, *input_shape[1:]), or a ``DataError`` naming shapes."""
    import numpy as np

    expected = "(N, " + ", ".join(str(d) for d in input_shape[1:]) + ")"
    if calib is None:
        raise UsageError(f"int8 export needs calibration data of shape {expected} (--calib)")
    arr = np.asarray(calib)
    if not np.issubdtype(arr.dtype, np.number):
        raise DataError(f"calibration data must be numeric, got dtype {arr.dtype}")
    if arr.ndim != len(input_shape) or tuple(arr.shape[1:]) != tuple(input_shape[1:]):
        raise DataError(
            f"calibration data has shape {tuple(arr.shape)}; expected {expected} "
            f"to match the model input {tuple(input_shape)}"
        )
    if len(arr) < input_shape[0]:
        raise DataError(
            f"calibration data has {len(arr)} samples; need at least {input_shape[0]} "
            "(the export batch size)"
        )
    if not np.all(np.isfinite(arr)):
        raise DataError("calibration data contains NaN or infinite values")
    return np.ascontiguousarray(arr, dtype=np.float32)


def describe_tflite(path: str | Path) -> dict[str, Any]:
    """File size, hash, I/O tensors (with int8 scale/zero-point) and tensor dtypes of a file."""
    import numpy as np

    from edgekd.runtime.litert import load_interpreter

    interp = load_interpreter(path)
    return {
        "format": "tflite",
        "path": str(path),
        "file_bytes": Path(path).stat().st_size,
        "sha256": sha256_file(path),
        "input": _io(interp.get_input_details()[0]),
        "output": _io(interp.get_output_details()[0]),
        "tensor_dtypes": sorted({np.dtype(t["dtype"]).name for t in interp.get_tensor_details()}),
    }


def _io(detail: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    dtype = np.dtype(detail["dtype"]).name
    scale, zero = detail["quantization"]
    quantized = dtype in ("int8", "uint8", "int16")
    return {
        "name": detail["name"],
        "shape": [int(d) for d in detail["shape"]],
        "dtype": dtype,
        "scale": float(scale) if quantized else None,
        "zero_point": int(zero) if quantized else None,
    }


def _convert_float(model: Any, sample: np.ndarray) -> bytes:
    import litert_torch
    import torch

    edge = litert_torch.convert(model, (torch.from_numpy(sample),))
    return bytes(edge.model_content())


def _convert_int8_pt2e(model: Any, sample: np.ndarray, calib: np.ndarray) -> bytes:
    """PT2E static quantization: export, insert observers, calibrate, convert, lower."""
    import litert_torch
    import torch
    from litert_torch.quantize import quant_config
    from torchao.quantization.pt2e import move_exported_model_to_eval, quantize_pt2e

    from edgekd.export.tflite_pt2e import edge_quantizer

    args = (torch.from_numpy(sample),)
    batch = sample.shape[0]
    traced = torch.export.export(model, args).module()
    quantizer = edge_quantizer()  # litert-torch's config + the add/mul it misses
    prepared = quantize_pt2e.prepare_pt2e(traced, quantizer)
    with torch.no_grad():
        # the exported graph is specialized to the export batch size
        for i in range(0, len(calib) - batch + 1, batch):
            prepared(torch.from_numpy(calib[i : i + batch]))
    converted = quantize_pt2e.convert_pt2e(prepared, fold_quantize=False)
    move_exported_model_to_eval(converted)  # swaps in the eval ops; BN was frozen at export
    for module in converted.modules():  # and says so: litert-torch warns on .training
        module.training = False
    edge = litert_torch.convert(
        converted, args, quant_config=quant_config.QuantConfig(pt2e_quantizer=quantizer)
    )
    return bytes(edge.model_content())


def _quantize_flatbuffer(buf: bytes, precision: str) -> bytes:
    """fp16 weights (float casting) or dynamic-range int8 weights with ai-edge-quantizer."""
    require("ai_edge_quantizer", "tflite")
    from ai_edge_quantizer import qtyping, recipe
    from ai_edge_quantizer import quantizer as aeq

    qt = aeq.Quantizer(bytearray(buf))
    if precision == "fp16":
        qt.add_weight_only_config(
            regex=".*",
            operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
            num_bits=16,
            algorithm_key=recipe.AlgorithmName.FLOAT_CASTING,
        )
    else:
        qt.load_quantization_recipe(recipe.dynamic_wi8_afp32())
    try:
        result = qt.quantize(enable_progress_report=False)
    except Exception as exc:
        raise StageError(f"ai-edge-quantizer could not make the {precision} model: {exc}") from None
    return bytes(result.quantized_model)


def _quantizer_name(precision: str) -> str | None:
    if precision == "int8":
        return "pt2e (litert_torch.quantize, per-channel int8 weights, histogram-calibrated)"
    if precision == "fp16":
        return f"ai-edge-quantizer {_version('ai-edge-quantizer')} float_casting fp16 weights"
    if precision == "dynamic_int8":
        return f"ai-edge-quantizer {_version('ai-edge-quantizer')} dynamic_wi8_afp32"
    return None


_LOWERING = re.compile(r"Lowering not found: (\S+)")
_TARGET = re.compile(r"target=(?:torch\.ops\.)?([\w.]+)")


def lowering_error(exc: BaseException) -> StageError:
    """A ``StageError`` naming the torch op litert-torch could not lower, if it can be found."""
    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    found = _LOWERING.search(text) or _TARGET.search(text)
    what = f"op {found.group(1)}" if found else "the model"
    return StageError(
        f"TFLite export failed: litert-torch cannot convert {what} ({first}); "
        "the ONNX export (--format onnx) still works for this model"
    )


@contextmanager
def _lowering_errors() -> Iterator[None]:
    try:
        yield
    except EdgekdError:
        raise
    except Exception as exc:
        raise lowering_error(exc) from None


@contextmanager
def eval_mode(model: Any) -> Iterator[None]:
    """Run a block with ``model`` in eval mode, restoring training mode afterwards."""
    was_training = bool(getattr(model, "training", False))
    try:
        model.eval()
    except Exception:  # exported GraphModules refuse .eval(); they are already frozen
        was_training = False
    try:
        yield
    finally:
        if was_training:
            model.train()


@contextmanager
def _quiet_litert() -> Iterator[None]:
    """Hide litert-torch's per-task progress lines unless the user asked for them."""
    key = "LITERT_TORCH_SHOW_PROGRESS"
    old = os.environ.get(key)
    if old is None:
        os.environ[key] = "n"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"
