"""Post-training quantization of an ONNX file with onnxruntime: path in, path out.

- ``static``: int8 QDQ (uint8 activations, int8 weights: onnxruntime's recommended CPU setting)
  calibrated on rows of the calibration data through a ``CalibrationDataReader`` (one feed per
  batch, or per row for fixed-batch inputs; every model input fed), with MinMax, Entropy (KL,
  Migacz 2017 "8-bit Inference with TensorRT") or Percentile calibration;
  ``quant_pre_process`` (shape inference + graph optimization) runs first, as onnxruntime
  recommends.
- ``dynamic``: int8 weights, activations quantized at run time, for MatMul/Gemm models. For Conv
  models onnxruntime emits ``ConvInteger``, which its CPU provider may not run; we warn and use
  static instead.
- ``fp16``: onnxruntime's own converter (``onnxruntime.transformers.float16``, a fork of
  onnxconverter-common), inputs and outputs kept float32 so callers feed the same arrays.

Per-channel scales put an ``axis`` on ``DequantizeLinear``, which exists from opset 13: an
older model is upgraded with the ONNX version converter first (or refused if it cannot be).
Every argument combination is checked before any work, and every file is loaded by
onnxruntime and run once before it is renamed into place, so a file that is written runs.
Messages name the user's files, never a temporary path.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import logging
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekd.errors import DataError, EdgekdError, ModelFileError, StageError, UsageError, require
from edgekd.fileio import atomic_path
from edgekd.profile.shapes import onnx_inputs
from edgekd.quantize.quality import run_onnx
from edgekd.quantize.signature import BATCH, Samples, as_samples

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
PER_CHANNEL_OPSET = 13  # DequantizeLinear gained ``axis`` in opset 13 (ONNX operator spec)


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
    # the int8 format (static only), chosen per runtime by ``edgekd.quantize.formats``
    quant_format: str = "qdq"  # qdq | qoperator
    reduce_range: bool = True  # 7-bit weights: no int16 saturation in u8s8 kernels (AVX2)
    activations: str = "uint8"  # uint8 | int8

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PtqSettings:
        """The settings ``to_dict`` wrote (lists back to tuples)."""
        known = {f.name for f in dataclasses.fields(cls)}
        kw: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in known
        }
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "method": self.method,
            "per_channel": self.per_channel,
            "exclude_op_types": list(self.exclude_op_types),
            "exclude_nodes": list(self.exclude_nodes),
        }
        if self.method == "static":
            d.update(calibration=self.calibration, calib_samples=self.calib_samples)
            d.update(
                quant_format=self.quant_format,
                reduce_range=self.reduce_range,
                activations=self.activations,
                weights="int8",
            )
            if self.calibration == "percentile":
                d["percentile"] = self.percentile
        return d


def load_model(path: str | Path) -> Any:
    from edgekd.runtime.onnx import read_onnx

    return read_onnx(path, runnable=True)  # a file onnxruntime refuses names itself


def onnx_bytes(path: str | Path) -> int:
    """Bytes of an ONNX model with its external-data files (``torch.onnx.export(dynamo=True)``
    writes weights to ``NAME.onnx.data``), so size ratios compare whole models."""
    onnx = require("onnx", "onnx")
    from onnx import TensorProto

    path = Path(path)
    total = path.stat().st_size
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # unreadable files were refused before; count what is on disk
        return total

    from edgekd.profile.onnx_shapes import all_graphs

    files: set[str] = set()
    for g in all_graphs(model.graph):
        for t in g.initializer:
            if t.data_location == TensorProto.EXTERNAL:
                files.update(e.value for e in t.external_data if e.key == "location")
    return total + sum(
        (path.parent / f).stat().st_size for f in files if (path.parent / f).is_file()
    )


def is_quantized(model: Any) -> bool:
    """True if the graph has quantization ops or float16/int8 weights."""
    from onnx import TensorProto

    if any(n.op_type in QUANT_OPS for n in model.graph.node):
        return True
    low = {TensorProto.FLOAT16, TensorProto.INT8, TensorProto.UINT8}
    return any(t.data_type in low for t in model.graph.initializer)


def graph_input(model: Any) -> tuple[str, list[int | None]]:
    """Name and shape (None for symbolic dims) of the first non-initializer graph input."""
    specs = onnx_inputs(model)
    if not specs:
        raise ModelFileError("the ONNX model has no graph input")
    return specs[0].name, [d if isinstance(d, int) else None for d in specs[0].dims]


def has_conv(model: Any) -> bool:
    return any(n.op_type in CONV_OPS for n in model.graph.node)


def opset(model: Any) -> int:
    """The model's default-domain opset version."""
    return next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def float_weights(model: Any) -> int:
    """Number of float32 initializer elements (0: nothing to quantize or halve)."""
    from onnx import TensorProto

    from edgekd.profile.onnx_shapes import all_graphs

    n = 0
    for g in all_graphs(model.graph):
        n += sum(int(np.prod(t.dims)) for t in g.initializer if t.data_type == TensorProto.FLOAT)
        for node in g.node:
            if node.op_type == "Constant":
                for a in node.attribute:
                    if a.name == "value" and a.t.data_type == TensorProto.FLOAT:
                        n += int(np.prod(a.t.dims))
    return n


def check_request(model: Any, path: Path, s: PtqSettings, calib: Samples | None) -> None:
    """Validate a request before doing any work; every error names what was wrong."""
    check_model(model, path, s)
    if s.method == "static":
        if calib is None:
            raise DataError("static quantization needs calibration data (--calib DATA.npz)")
        if len(calib) < s.calib_samples:
            raise DataError(
                f"calibration set has {len(calib)} samples but {s.calib_samples} were requested "
                "(quantize.calib_samples / --calib-samples)"
            )


def check_model(model: Any, path: Path, s: PtqSettings) -> None:
    """The model can be quantized with ``s``: float, not quantized yet, excluded nodes exist."""
    if is_quantized(model):
        raise UsageError(
            f"{path}: the model is already quantized (it has quantization ops or int8/fp16 "
            "weights); quantize the float32 model instead"
        )
    if float_weights(model) == 0:
        raise UsageError(
            f"{path}: the model has no float32 weights, so there is nothing to quantize or "
            f"convert to {s.method} (inputs: "
            + "; ".join(i.signature() for i in onnx_inputs(model))
            + ")"
        )
    names = {n.name for n in model.graph.node}
    missing = [n for n in s.exclude_nodes if n not in names]
    if missing:
        sample = ", ".join(sorted(names)[:12])
        raise UsageError(
            f"--exclude / quantize.exclude_nodes: no node named {', '.join(missing)} in {path} "
            f"(nodes include: {sample})"
        )


def samples_for(model: Any, calib: Any, what: str = "calibration data") -> Samples | None:
    """``calib`` (Samples, one array, arrays by name, an .npz path, or None) as Samples."""
    if calib is None or isinstance(calib, Samples):
        return calib
    return as_samples(calib, onnx_inputs(model), what)


def even_batch(rows: int, most: int = BATCH) -> int:
    """The largest batch size <= ``most`` that divides ``rows``: onnxruntime's histogram
    calibrators (Entropy, Percentile) stack the batches, so they must all have one size."""
    return next(b for b in range(min(most, max(rows, 1)), 0, -1) if rows % b == 0)


def make_reader(samples: Samples) -> Any:
    """A ``CalibrationDataReader`` over ``samples`` (onnxruntime's calibration protocol)."""
    q = require("onnxruntime.quantization", "onnx")

    class NumpyReader(q.CalibrationDataReader):  # type: ignore[name-defined]
        def __init__(self) -> None:
            self._it = samples.feeds(even_batch(len(samples)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    return NumpyReader()


def synthetic_feed(model: Any) -> dict[str, np.ndarray]:
    """One random feed of the model's inputs (symbolic dims = 1), for a load-and-run check."""
    rng = np.random.default_rng(0)
    feed = {}
    for spec in onnx_inputs(model):
        shape = [d if isinstance(d, int) else 1 for d in spec.dims]
        dt = np.dtype(spec.dtype)
        if dt.kind == "f":
            feed[spec.name] = rng.standard_normal(shape).astype(dt)
        elif dt.kind == "b":
            feed[spec.name] = np.zeros(shape, dt)
        else:
            feed[spec.name] = np.zeros(shape, dt)
    return feed


def quantize_file(
    src: str | Path,
    dst: str | Path,
    s: PtqSettings,
    calib: Any = None,
    check_feed: dict[str, np.ndarray] | None = None,
    calib_cache: Path | None = None,
) -> dict[str, Any]:
    """Quantize ``src`` into ``dst`` with settings ``s``; returns what was actually done.

    ``calib``: calibration inputs (``Samples``, one array for a single-input model, arrays by
    input name, or an .npz path); the first ``s.calib_samples`` rows are used. The written file
    is loaded by onnxruntime and run on ``check_feed`` (default: the first calibration batch)
    before it replaces ``dst``. ``calib_cache``: a JSON file of activation ranges shared by
    attempts that differ only in format (onnxruntime's ``calibration_cache_path``; written
    by the first, read by the others). Returns ``{"settings", "warnings", "opset"}``.
    """
    src, dst = Path(src), Path(dst)
    model = load_model(src)
    samples = samples_for(model, calib)
    notes: list[str] = []
    if s.method == "dynamic" and has_conv(model):
        msg = (
            "dynamic quantization of a Conv model emits ConvInteger, which onnxruntime's CPU "
            "provider may not run; using static int8 (QDQ) instead"
        )
        warnings.warn(msg, stacklevel=2)
        notes.append(msg)
        s = dataclasses.replace(s, method="static")
    check_request(model, src, s, samples)
    if samples is not None and s.method == "static":
        samples = samples.take(slice(0, s.calib_samples))
    feed = check_feed or (next(samples.feeds(), None) if samples is not None else None)
    feed = feed or synthetic_feed(model)
    version = opset(model)
    with tempfile.TemporaryDirectory(prefix="edgekd-q-") as work:
        shown = {work: "(work dir)"}
        source = src
        if s.per_channel and s.method != "fp16" and version < PER_CHANNEL_OPSET:
            source = upgrade_opset(model, src, Path(work) / "opset13.onnx")
            notes.append(f"upgraded opset {version} to {PER_CHANNEL_OPSET} for per-channel scales")
            version = PER_CHANNEL_OPSET
        with atomic_path(dst) as tmp:
            shown[str(tmp)] = str(dst)
            try:
                _run(model, source, tmp, s, samples, Path(work), calib_cache)
            except EdgekdError:
                raise
            except Exception as exc:
                raise StageError(
                    f"onnxruntime could not quantize {src} ({s.method}): {scrub(exc, shown)}"
                ) from None
            verify(tmp, feed, dst, shown)
    return {"settings": s.to_dict(), "warnings": notes, "opset": version}


def _run(
    model: Any,
    source: Path,
    dst: Path,
    s: PtqSettings,
    samples: Samples | None,
    work: Path,
    calib_cache: Path | None = None,
) -> None:
    if s.method == "fp16":
        _fp16(model, dst)
    elif s.method == "dynamic":
        _dynamic(source, dst, s)
    else:
        assert samples is not None
        _static(source, dst, s, samples, work, calib_cache)


def upgrade_opset(model: Any, src: Path, dst: Path) -> Path:
    """``model`` converted to opset 13 by the ONNX version converter, saved at ``dst``."""
    onnx = require("onnx", "onnx")
    try:
        converted = onnx.version_converter.convert_version(model, PER_CHANNEL_OPSET)
        onnx.checker.check_model(converted)
        onnx.save(converted, str(dst))
    except Exception as exc:
        raise UsageError(
            f"{src}: per-channel scales need opset {PER_CHANNEL_OPSET} and the ONNX version "
            f"converter cannot upgrade this opset-{opset(model)} model ({scrub(exc, {})}); "
            "quantize per-tensor (without --per-channel) or re-export at opset >= 13"
        ) from None
    return dst


def verify(path: Path, feed: dict[str, np.ndarray], shown_as: Path, shown: dict[str, str]) -> None:
    """Load ``path`` with onnxruntime and run it once; a failure is a ``StageError``."""
    try:
        run_onnx(path, [feed])
    except Exception as exc:
        raise StageError(
            f"the quantized model for {shown_as} does not run in onnxruntime, so it was not "
            f"written: {scrub(exc, shown)}"
        ) from None


def scrub(exc: BaseException, shown: dict[str, str]) -> str:
    """First line of an error message with temporary paths replaced by what the user knows."""
    text = str(exc).strip().splitlines()[0][:400] if str(exc).strip() else type(exc).__name__
    for path, label in sorted(shown.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(path, label)
    tmp = tempfile.gettempdir()
    if tmp in text:  # any other temporary file onnxruntime made on its own
        import re

        text = re.sub(re.escape(tmp) + r"/[^\s'\":,)]*", "(temporary file)", text)
    return text


def fingerprint(path: str | Path) -> str:
    """Hash of a model's graph (weights, scales, zero points, nodes): equal hashes mean two
    quantization attempts produced the same model."""
    onnx = require("onnx", "onnx")
    graph = onnx.load(str(path)).graph
    return hashlib.sha256(graph.SerializeToString(deterministic=True)).hexdigest()


def _quiet() -> None:
    logging.getLogger("onnxruntime").setLevel(logging.ERROR)
    logging.getLogger("root").setLevel(logging.ERROR)
    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))


def _static(
    src: Path,
    dst: Path,
    s: PtqSettings,
    samples: Samples,
    work: Path,
    calib_cache: Path | None = None,
) -> None:
    q = require("onnxruntime.quantization", "onnx")
    _quiet()
    extra: dict[str, Any] = {}
    if s.calibration == "percentile":
        extra["CalibPercentile"] = s.percentile
    pre = work / "pre.onnx"
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            q.quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
    except Exception:  # pre-processing is advice, not a requirement: quantize the original
        pre = src
    _check_still_named(pre, s.exclude_nodes)
    cache: dict[str, Any] = {}
    if calib_cache is not None:  # onnxruntime >= 1.24 reuses ranges across format attempts
        import inspect

        if "calibration_cache_path" in inspect.signature(q.quantize_static).parameters:
            cache["calibration_cache_path"] = str(calib_cache)
    with contextlib.redirect_stdout(io.StringIO()):  # histogram calibrators print progress
        q.quantize_static(
            str(pre),
            str(dst),
            make_reader(samples),
            quant_format=q.QuantFormat.QOperator
            if s.quant_format == "qoperator"
            else q.QuantFormat.QDQ,
            per_channel=s.per_channel,
            activation_type=q.QuantType.QInt8 if s.activations == "int8" else q.QuantType.QUInt8,
            weight_type=q.QuantType.QInt8,
            reduce_range=s.reduce_range,  # 7-bit weights: see edgekd.quantize.fake_quant
            nodes_to_exclude=list(s.exclude_nodes) or None,
            op_types_to_quantize=_op_types(s),
            calibrate_method=getattr(q.CalibrationMethod, CALIBRATION[s.calibration]),
            extra_options=extra,
            **cache,
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
        reduce_range=True,  # 7-bit weights: u8s8 MatMulInteger saturates without VNNI
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
