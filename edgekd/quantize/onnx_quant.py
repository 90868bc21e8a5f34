"""Post-training quantization of an ONNX file with onnxruntime: path in, path out.

- ``static``: int8 QDQ (uint8 activations, int8 weights: onnxruntime's recommended CPU setting)
  calibrated on rows of the calibration split through a ``CalibrationDataReader``, with MinMax,
  Entropy (KL, Migacz 2017 "8-bit Inference with TensorRT") or Percentile calibration;
  ``quant_pre_process`` (shape inference + graph optimization) runs first, as onnxruntime
  recommends.
- ``dynamic``: int8 weights, activations quantized at run time, for MatMul/Gemm models. For Conv
  models onnxruntime emits ``ConvInteger``, which its CPU provider may not run; we warn and use
  static instead.
- ``fp16``: onnxruntime's own converter (``onnxruntime.transformers.float16``, a fork of
  onnxconverter-common), inputs and outputs kept float32 so callers feed the same arrays.

Every argument combination is checked before any work: an already-quantized model, unknown
node names to exclude, or a calibration set that is too small or of the wrong shape.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekd.errors import DataError, ModelFileError, UsageError, require
from edgekd.fileio import atomic_path

# ops that only appear in models that were quantized already
QUANT_OPS = frozenset(
    {
        "QuantizeLinear",
        "DequantizeLinear",
        "DynamicQuantizeLinear",
        "QLinearConv",
        "QLinearMatMul",
        "QGemm",
        "ConvInteger",
        "MatMulInteger",
        "MatMulIntegerToFloat",
        "QAttention",
    }
)
CONV_OPS = frozenset({"Conv", "ConvTranspose"})
COMPUTE_OPS = frozenset({"Conv", "ConvTranspose", "MatMul", "Gemm"})
CALIBRATION = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}


@dataclass(frozen=True)
class PtqSettings:
    """One post-training quantization configuration (an attempt of the accuracy guard)."""

    method: str = "static"  # static | dynamic | fp16
    calibration: str = "minmax"
    calib_samples: int = 128
    percentile: float = 99.999
    per_channel: bool = False
    exclude_op_types: tuple[str, ...] = ()
    exclude_nodes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "method": self.method,
            "per_channel": self.per_channel,
            "exclude_op_types": list(self.exclude_op_types),
            "exclude_nodes": list(self.exclude_nodes),
        }
        if self.method == "static":
            d.update(calibration=self.calibration, calib_samples=self.calib_samples)
            if self.calibration == "percentile":
                d["percentile"] = self.percentile
        return d


def load_model(path: str | Path) -> Any:
    from edgekd.runtime.onnx import read_onnx

    return read_onnx(path)  # checked: an empty or truncated file names itself


def is_quantized(model: Any) -> bool:
    """True if the graph has quantization ops or float16/int8 weights."""
    from onnx import TensorProto

    if any(n.op_type in QUANT_OPS for n in model.graph.node):
        return True
    low = {TensorProto.FLOAT16, TensorProto.INT8, TensorProto.UINT8}
    return any(t.data_type in low for t in model.graph.initializer)


def graph_input(model: Any) -> tuple[str, list[int | None]]:
    """Name and shape (None for symbolic dims) of the first non-initializer graph input."""
    inits = {t.name for t in model.graph.initializer}
    for inp in model.graph.input:
        if inp.name not in inits:
            dims = inp.type.tensor_type.shape.dim
            return inp.name, [d.dim_value if d.HasField("dim_value") else None for d in dims]
    raise ModelFileError("the ONNX model has no graph input")


def has_conv(model: Any) -> bool:
    return any(n.op_type in CONV_OPS for n in model.graph.node)


def check_request(model: Any, path: Path, s: PtqSettings, calib: np.ndarray | None) -> None:
    """Validate a request before doing any work; every error names what was wrong."""
    if is_quantized(model):
        raise UsageError(
            f"{path}: the model is already quantized (it has quantization ops or int8/fp16 "
            "weights); quantize the float32 model instead"
        )
    names = {n.name for n in model.graph.node}
    missing = [n for n in s.exclude_nodes if n not in names]
    if missing:
        sample = ", ".join(sorted(names)[:12])
        raise UsageError(
            f"--exclude / quantize.exclude_nodes: no node named {', '.join(missing)} in {path} "
            f"(nodes include: {sample})"
        )
    if s.method == "static":
        if calib is None:
            raise DataError("static quantization needs calibration data (--calib DATA.npz)")
        check_calibration(model, calib, s.calib_samples)


def check_calibration(model: Any, calib: np.ndarray, samples: int) -> None:
    """The calibration set must have at least ``samples`` rows shaped like the model input."""
    name, shape = graph_input(model)
    expected = tuple(shape[1:])
    got = tuple(calib.shape[1:])
    wrong = calib.ndim != len(shape) or any(
        e is not None and e != g for e, g in zip(expected, got, strict=True)
    )
    if wrong:
        raise DataError(
            f"calibration data has shape {tuple(calib.shape)}; the model input {name!r} expects "
            f"(N, {', '.join('?' if d is None else str(d) for d in expected)})"
        )
    if len(calib) < samples:
        raise DataError(
            f"calibration set has {len(calib)} samples but {samples} were requested "
            "(quantize.calib_samples / --calib-samples)"
        )


def make_reader(input_name: str, x: np.ndarray, batch_size: int = 32) -> Any:
    """A ``CalibrationDataReader`` over ``x`` in batches (onnxruntime's calibration protocol)."""
    q = require("onnxruntime.quantization", "onnx")

    class NumpyReader(q.CalibrationDataReader):  # type: ignore[name-defined]
        def __init__(self) -> None:
            self._it: Iterator[dict[str, np.ndarray]] = iter(
                {input_name: np.ascontiguousarray(x[i : i + batch_size], dtype=np.float32)}
                for i in range(0, len(x), batch_size)
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    return NumpyReader()


def quantize_file(
    src: str | Path, dst: str | Path, s: PtqSettings, calib: np.ndarray | None = None
) -> dict[str, Any]:
    """Quantize ``src`` into ``dst`` with settings ``s``; returns what was actually done.

    ``calib`` holds calibration inputs (float32, normalized like training data); the first
    ``s.calib_samples`` rows are used. Returns ``{"settings": ..., "warnings": [...]}``.
    """
    src, dst = Path(src), Path(dst)
    model = load_model(src)
    notes: list[str] = []
    if s.method == "dynamic" and has_conv(model):
        msg = (
            "dynamic quantization of a Conv model emits ConvInteger, which onnxruntime's CPU "
            "provider may not run; using static int8 (QDQ) instead"
        )
        warnings.warn(msg, stacklevel=2)
        notes.append(msg)
        s = dataclasses.replace(s, method="static")
    check_request(model, src, s, calib)
    with atomic_path(dst) as tmp:
        if s.method == "fp16":
            _fp16(model, tmp)
        elif s.method == "dynamic":
            _dynamic(src, tmp, s)
        else:
            assert calib is not None
            _static(src, tmp, s, graph_input(model)[0], calib[: s.calib_samples])
    return {"settings": s.to_dict(), "warnings": notes}


def _quiet() -> None:
    logging.getLogger("onnxruntime").setLevel(logging.ERROR)
    logging.getLogger("root").setLevel(logging.ERROR)


def _static(src: Path, dst: Path, s: PtqSettings, input_name: str, calib: np.ndarray) -> None:
    q = require("onnxruntime.quantization", "onnx")
    _quiet()
    extra: dict[str, Any] = {}
    if s.calibration == "percentile":
        extra["CalibPercentile"] = s.percentile
    with tempfile.TemporaryDirectory() as tmpdir:
        pre = Path(tmpdir) / "pre.onnx"
        q.quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        _check_still_named(pre, s.exclude_nodes)
        with contextlib.redirect_stdout(io.StringIO()):  # histogram calibrators print progress
            q.quantize_static(
                str(pre),
                str(dst),
                make_reader(input_name, calib),
                quant_format=q.QuantFormat.QDQ,
                per_channel=s.per_channel,
                activation_type=q.QuantType.QUInt8,
                weight_type=q.QuantType.QInt8,
                nodes_to_exclude=list(s.exclude_nodes) or None,
                op_types_to_quantize=_op_types(s),
                calibrate_method=getattr(q.CalibrationMethod, CALIBRATION[s.calibration]),
                extra_options=extra,
            )


def _check_still_named(path: Path, names: tuple[str, ...]) -> None:
    """Excluded nodes must survive ``quant_pre_process`` (its fusions can rename nodes)."""
    if not names:
        return
    present = {n.name for n in load_model(path).graph.node}
    gone = [n for n in names if n not in present]
    if gone:
        raise UsageError(
            f"--exclude / quantize.exclude_nodes: {', '.join(gone)} disappear in onnxruntime's "
            "pre-processing (fused into a neighbour); exclude the node they are fused into"
        )


def _dynamic(src: Path, dst: Path, s: PtqSettings) -> None:
    q = require("onnxruntime.quantization", "onnx")
    _quiet()
    q.quantize_dynamic(
        str(src),
        str(dst),
        per_channel=s.per_channel,
        weight_type=q.QuantType.QInt8,
        nodes_to_exclude=list(s.exclude_nodes) or None,
        op_types_to_quantize=_op_types(s, default=("MatMul", "Gemm")),
    )


def _op_types(s: PtqSettings, default: tuple[str, ...] | None = None) -> list[str] | None:
    """Op types to quantize: onnxruntime's defaults (or ``default``) minus the excluded ones."""
    if not s.exclude_op_types:
        return list(default) if default else None
    reg = require("onnxruntime.quantization.registry", "onnx")
    if default:
        base: tuple[str, ...] = default
    elif s.method == "static":
        base = tuple(reg.QDQRegistry)
    else:
        base = tuple(reg.IntegerOpsRegistry)
    return [t for t in base if t not in s.exclude_op_types]


def _fp16(model: Any, dst: Path) -> None:
    """float32 -> float16 weights and compute, float32 graph inputs and outputs."""
    onnx = require("onnx", "onnx")
    f16 = require("onnxruntime.transformers.float16", "onnx")
    converted = f16.convert_float_to_float16(model, keep_io_types=True)
    topological_sort(converted.graph)  # the converter appends its input Casts at the end
    onnx.save(converted, str(dst))


def topological_sort(graph: Any) -> None:
    """Reorder ``graph.node`` in place so every node comes after the producers of its inputs."""
    ready = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        rest = []
        for node in pending:
            if all(i in ready for i in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise ModelFileError(f"graph has a cycle or a missing input near node {rest[0].name!r}")
        pending = rest
    copies = [type(n)() for n in ordered]
    for c, n in zip(copies, ordered, strict=True):
        c.CopyFrom(n)
    del graph.node[:]
    graph.node.extend(copies)
