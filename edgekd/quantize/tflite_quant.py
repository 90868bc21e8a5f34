"""Post-training quantization of a TFLite file with ai-edge-quantizer, behind the same guard.

Methods map to ai-edge-quantizer's recipes (``ai_edge_quantizer.recipe``):

- ``static``: ``static_wi8_ai8``, int8 weights (per channel) and int8 activations calibrated
  on the calibration rows through the model's signature. Ranges are the global min/max over
  the rows (as onnxruntime's MinMax): ai-edge-quantizer's own calibrator averages per-invoke
  extremes with a 0.95 moving average, which on a fixed batch of 1 clips the tails of every
  tensor (an MLP on N(0, 1) inputs got half its input range). The guard's fallbacks are
  ``static_wi8_ai16`` (16-bit activations: 256x finer steps for outlier-heavy tensors) and
  the moving-average ranges (clipping, like percentile calibration);
- ``dynamic``: ``dynamic_wi8_afp32``, int8 weights, activations quantized by the kernels;
- ``weight_only``: ``weight_only_wi8_afp32``, int8 weights dequantized to float at load;
- ``fp16``: float16 weights (``FLOAT_CASTING``).

An fp16 file (float16 weights behind ``DEQUANTIZE`` ops) is first rewritten to float32
(the weights widened, the ``DEQUANTIZE`` ops dropped) so that the int8 recipes see float
weights. Keeping an op in float is a ``NO_QUANTIZE`` entry for its output tensor name. Every
candidate file is run by LiteRT (with its default delegate) before it is kept.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekd.errors import EdgekdError, ModelFileError, StageError, UsageError, require
from edgekd.profile.shapes import InputSpec
from edgekd.quantize.signature import Samples

RECIPES = {"static": "static_wi8_ai8", "dynamic": "dynamic_wi8_afp32",
           "weight_only": "weight_only_wi8_afp32"}  # fmt: skip
WEIGHT_OPS = {"FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "BATCH_MATMUL",
              "TRANSPOSE_CONV", "EMBEDDING_LOOKUP", "CONV_3D"}  # fmt: skip


@dataclass(frozen=True)
class TfliteSettings:
    """One ai-edge-quantizer configuration (an attempt of the guard)."""

    method: str = "static"
    activation_bits: int = 8
    ranges: str = "minmax"  # minmax (global extremes) | moving_average (ai-edge-quantizer's)
    exclude_nodes: tuple[str, ...] = field(default_factory=tuple)

    def recipe_name(self) -> str:
        if self.method == "static" and self.activation_bits == 16:
            return "static_wi8_ai16"
        return RECIPES.get(self.method, "float_casting")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"method": self.method, "recipe": self.recipe_name()}
        if self.method == "static":
            d["calibration"] = self.ranges
        d["exclude_nodes"] = list(self.exclude_nodes)
        return d


class TfliteModel:
    """A .tflite file run through its first signature (or its input tensors) by LiteRT."""

    def __init__(self, path: Path) -> None:
        from edgekd.runtime.litert import load_interpreter

        self.path = Path(path)
        self.interp = load_interpreter(self.path)
        sigs = self.interp.get_signature_list()
        self.key = next(iter(sigs), None)
        self.runner = self.interp.get_signature_runner(self.key) if self.key else None

    def input_details(self) -> dict[str, dict[str, Any]]:
        if self.runner is not None:
            return dict(self.runner.get_input_details())
        return {d["name"]: d for d in self.interp.get_input_details()}

    def specs(self) -> list[InputSpec]:
        out = []
        for name, d in self.input_details().items():
            sig = d.get("shape_signature")
            sig = d["shape"] if sig is None or len(sig) != len(d["shape"]) else sig
            dims = tuple(int(s) if int(s) > 0 else None for s in sig)
            out.append(InputSpec(name, dims, np.dtype(d["dtype"]).name))
        return out

    def run(self, samples: Samples) -> dict[str, np.ndarray]:
        """Every output for every row (one invoke per row), dequantized to float."""
        from edgekd.runtime.litert import dequantize, quantize

        details = self.input_details()
        parts: dict[str, list[np.ndarray]] = {}
        for feed in samples.feeds(batch=1):
            args = {}
            for name, v in feed.items():
                d = details[name]
                if np.dtype(d["dtype"]).kind in "iu" and v.dtype.kind == "f":
                    scale, zero = d["quantization"]
                    v = quantize(v, scale, zero, d["dtype"])
                args[name] = v.astype(d["dtype"], copy=False)
            outs = self._invoke(args)
            for name, (v, quant) in outs.items():
                if quant is not None and np.asarray(v).dtype.kind in "iu":
                    v = dequantize(np.asarray(v), *quant)
                parts.setdefault(name, []).append(np.atleast_1d(np.asarray(v, np.float32)))
        return {n: np.concatenate(v) for n, v in parts.items()}

    def _invoke(self, args: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, Any]]:
        if self.runner is not None:
            out = self.runner(**args)
            det = self.runner.get_output_details()
            return {n: (v, _quant(det[n])) for n, v in out.items()}
        for d in self.interp.get_input_details():
            self.interp.set_tensor(d["index"], args[d["name"]])
        self.interp.invoke()
        return {
            d["name"]: (self.interp.get_tensor(d["index"]).copy(), _quant(d))
            for d in self.interp.get_output_details()
        }


def _quant(d: dict[str, Any]) -> tuple[float, int] | None:
    scale, zero = d.get("quantization", (0.0, 0))
    return (float(scale), int(zero)) if scale else None


def op_outputs(path: Path) -> list[tuple[str, str]]:
    """(op name, output tensor name) of every op of the first subgraph, in order."""
    from edgekd.runtime.litert import builtin_op_names, op_code_name, read_model

    model = read_model(path)
    names = builtin_op_names()
    sg = model.subgraphs[0]
    out = []
    for op in sg.operators or []:
        name = op_code_name(model.operatorCodes[op.opcodeIndex], names)
        if op.outputs is not None and len(op.outputs):
            t = sg.tensors[int(op.outputs[0])].name
            out.append((name, t.decode() if isinstance(t, bytes) else str(t)))
    return out


def fp16_to_fp32(buf: bytes) -> bytes | None:
    """The model with float16 constant weights widened to float32 and their ``DEQUANTIZE``
    ops removed; None when it has none."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    from edgekd.runtime.litert import builtin_op_names, op_code_name

    model = s.ModelT.InitFromPackedBuf(bytearray(buf), 0)
    names = builtin_op_names()
    changed = False
    dropped: set[int] = set()
    for sg in model.subgraphs:
        keep = []
        for op in sg.operators if sg.operators is not None else []:
            name = op_code_name(model.operatorCodes[op.opcodeIndex], names)
            src = (
                sg.tensors[int(op.inputs[0])] if op.inputs is not None and len(op.inputs) else None
            )
            data = model.buffers[src.buffer].data if src is not None else None
            if name == "DEQUANTIZE" and src is not None and src.type == 1 and data is not None:
                dst = sg.tensors[int(op.outputs[0])]
                wide = np.frombuffer(bytes(bytearray(data)), np.float16).astype(np.float32)
                buffer = s.BufferT()
                buffer.data = list(wide.tobytes())
                model.buffers.append(buffer)
                dst.buffer = len(model.buffers) - 1
                dropped.add(src.buffer)
                changed = True
                continue
            keep.append(op)
        sg.operators = keep
    if not changed:
        return None
    for k, sg in enumerate(model.subgraphs):  # drop the float16 copies nothing reads now
        _compact(model, k, sg, dropped)
    builder = flatbuffers.Builder(len(buf) * 2 + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _compact(model: Any, k: int, sg: Any, dropped: set[int]) -> None:
    """Remove the tensors of subgraph ``sg`` that no op, input, output or signature uses, and
    empty the buffers in ``dropped`` that were theirs; every tensor index is renumbered."""

    def ints(xs: Any) -> list[int]:
        return [int(i) for i in xs] if xs is not None else []

    used = set(ints(sg.inputs)) | set(ints(sg.outputs))
    for op in sg.operators:
        used |= {i for i in ints(op.inputs) if i >= 0} | set(ints(op.outputs))
    for sig in model.signatureDefs or []:
        if sig.subgraphIndex == k:
            used |= {m.tensorIndex for m in [*(sig.inputs or []), *(sig.outputs or [])]}
    keep = [i for i in range(len(sg.tensors)) if i in used]
    new = {old: n for n, old in enumerate(keep)}
    for i, t in enumerate(sg.tensors):
        if i not in used and t.buffer in dropped:
            model.buffers[t.buffer].data = None
    sg.tensors = [sg.tensors[i] for i in keep]
    sg.inputs = [new[i] for i in ints(sg.inputs)]
    sg.outputs = [new[i] for i in ints(sg.outputs)]
    for op in sg.operators:
        op.inputs = [new[i] if i >= 0 else i for i in ints(op.inputs)]
        op.outputs = [new[i] for i in ints(op.outputs)]
    for sig in model.signatureDefs or []:
        if sig.subgraphIndex == k:
            for m in [*(sig.inputs or []), *(sig.outputs or [])]:
                m.tensorIndex = new[m.tensorIndex]


@dataclass
class TfliteBackend:
    """The guard's view of ai-edge-quantizer on one float TFLite model."""

    src: Path
    float_buf: bytes
    calib: Samples | None
    signature: str | None

    def quantize(self, settings: TfliteSettings, dst: Path) -> dict[str, Any]:
        require("ai_edge_quantizer", "tflite")
        from ai_edge_quantizer import qtyping, recipe
        from ai_edge_quantizer import quantizer as aeq

        qt = aeq.Quantizer(bytearray(self.float_buf))
        if settings.method == "fp16":
            qt.add_weight_only_config(
                regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, num_bits=16,
                algorithm_key=recipe.AlgorithmName.FLOAT_CASTING,
            )  # fmt: skip
        else:
            qt.load_quantization_recipe(getattr(recipe, settings.recipe_name())())
        for name in settings.exclude_nodes:
            qt.update_quantization_recipe(
                regex=f"^{re.escape(name)}$",
                operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                algorithm_key=recipe.AlgorithmName.NO_QUANTIZE,
            )
        try:
            with _quiet():
                result = self._quantize(qt, settings)
        except EdgekdError:
            raise
        except Exception as exc:
            raise StageError(
                f"ai-edge-quantizer could not quantize {self.src} ({settings.recipe_name()}): "
                f"{str(exc).strip().splitlines()[0][:300] if str(exc).strip() else exc!r}"
            ) from None
        dst.write_bytes(bytes(result.quantized_model))
        try:
            TfliteModel(dst).run(self.calib.take(slice(0, 1)) if self.calib else _one(dst))
        except Exception as exc:
            raise StageError(
                f"the quantized model for {self.src} does not run in LiteRT, so it was not "
                f"written: {str(exc).strip().splitlines()[0][:300]}"
            ) from None
        return {"settings": settings.to_dict(), "warnings": []}

    def _quantize(self, qt: Any, settings: TfliteSettings) -> Any:
        calibration = None
        if qt.need_calibration:
            if self.calib is None or self.signature is None:
                raise UsageError(
                    f"{self.src}: static int8 needs calibration data (--calib) and a "
                    "signature in the model"
                )
            rows = list(self.calib.feeds(batch=1))
            calibration = _calibrate(qt, self.signature, rows, settings.ranges)
        return qt.quantize(calibration, enable_progress_report=False)

    def run(self, path: Path, samples: Samples) -> dict[str, np.ndarray]:
        return TfliteModel(path).run(samples)

    def fallbacks(self, base: TfliteSettings) -> list[TfliteSettings]:
        seq = [base]
        if base.method == "static":
            if base.activation_bits == 8:
                seq.append(dataclasses.replace(base, activation_bits=16))
            if base.ranges == "minmax":
                seq.append(dataclasses.replace(base, ranges="moving_average"))
        return seq

    def probes(self, settings: TfliteSettings) -> list[tuple[str, ...]]:
        if settings.method == "fp16":
            return []
        ops = [(op, t) for op, t in op_outputs(self.src) if op in WEIGHT_OPS]
        singles: list[tuple[str, ...]] = [(t,) for _, t in ops if t not in settings.exclude_nodes]
        pairs: list[tuple[str, ...]] = [(a[1], b[1]) for a, b in zip(ops, ops[1:], strict=False)]
        return singles + pairs

    def exclude(self, settings: TfliteSettings, nodes: tuple[str, ...]) -> TfliteSettings:
        return dataclasses.replace(settings, exclude_nodes=(*settings.exclude_nodes, *nodes))

    def fingerprint(self, path: Path) -> str:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()

    def settings_dict(self, settings: TfliteSettings) -> dict[str, Any]:
        return settings.to_dict()


def _calibrate(qt: Any, signature: str, rows: list[dict[str, Any]], ranges: str) -> Any:
    """Calibration statistics: ai-edge-quantizer's moving average over all rows, or the
    global min/max (each row calibrated alone, the extremes merged)."""
    if ranges == "moving_average":
        return qt.calibrate({signature: rows}, num_threads=1)
    from ai_edge_quantizer.utils import qsv_utils

    merged: dict[str, Any] = {}
    for row in rows:
        for name, qsv in qt.calibrate({signature: [row]}, num_threads=1).items():
            merged[name] = (
                qsv_utils.min_max_update(merged.get(name, {}), qsv)
                if qsv
                else (merged.get(name, {}))
            )
    return merged


@contextlib.contextmanager
def _quiet() -> Any:
    """ai-edge-quantizer's progress bars and LiteRT's debugging warnings, out of our output."""
    import warnings

    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(io.StringIO()):
            yield


def _one(path: Path) -> Samples:
    from edgekd.quantize.api import random_samples

    return random_samples(TfliteModel(path).specs(), {}, 1)


def quantize_tflite(src: Path, dst: Path, cfg: Any, calib: Any, val: Any) -> dict[str, Any]:
    """``edgekd quantize model.tflite``: see the module docstring; returns the report."""
    from edgekd.quantize.api import make_judge, prepare
    from edgekd.quantize.guard import guard
    from edgekd.quantize.quality import HEADS

    if cfg.per_channel or cfg.calibration != "minmax" or cfg.exclude_op_types:
        raise UsageError(
            "--per-channel, --calibration and --exclude-op are onnxruntime settings; "
            "ai-edge-quantizer quantizes TFLite weights per channel with min/max ranges"
        )
    buf = src.read_bytes()
    model = TfliteModel(src)
    ops = {op for op, _ in op_outputs(src)}
    if ops & {"QUANTIZE"} or _int8_weights(src):
        raise UsageError(f"{src}: the model is already quantized; quantize the float model instead")
    widened = fp16_to_fp32(buf)
    if widened and cfg.method == "fp16":
        raise UsageError(f"{src}: the model already has float16 weights (--method fp16)")
    notes = ["float16 weights widened to float32 before quantizing"] if widened else []
    float_buf = widened or buf
    known = {t for _, t in op_outputs(src)}
    missing = [n for n in cfg.exclude_nodes if n not in known]
    if missing:
        raise UsageError(
            f"--exclude: no op writes a tensor named {', '.join(missing)} in {src} "
            f"(op output tensors include: {', '.join(sorted(known)[:12])})"
        )
    specs = model.specs()
    prep = prepare(specs, cfg, calib, val, cfg.method == "static", str(src))
    backend = TfliteBackend(src, float_buf, prep["calib"], model.key)
    tflite_heads = {"SOFTMAX", "LOG_SOFTMAX", "FULLY_CONNECTED", "BATCH_MATMUL"}
    logits = _logit_outputs(src, tflite_heads | {h.upper() for h in HEADS})
    judge = make_judge(backend, src, cfg, prep, logits)
    base = TfliteSettings(cfg.method, exclude_nodes=tuple(cfg.exclude_nodes))
    report = guard(backend, base, dst, judge, cfg.allow_degraded)
    report["warnings"] = notes + report["warnings"]
    one = prep["held"].take(slice(0, 1))
    report.update(
        format="tflite",
        precision="fp16" if cfg.method == "fp16" else "int8",
        held_out={"rows": len(prep["held"]), "from": prep["how"]},
        calibration_rows=len(prep["calib"]) if prep["calib"] is not None else 0,
        float_bytes=src.stat().st_size,
        quant_bytes=dst.stat().st_size,
        io=_io(dst),
        measured_speedup=_speed(src, dst, one),
    )
    return report


def _int8_weights(path: Path) -> bool:
    from edgekd.profile.static import analyze

    try:
        return analyze(path).precision == "int8"
    except UsageError:
        return False


def _logit_outputs(path: Path, heads: set[str]) -> set[str]:
    """Signature output names produced by a classifier head op."""
    model = TfliteModel(path)
    if model.runner is None:
        return set()
    producer = {t: op for op, t in op_outputs(path)}
    details = model.runner.get_output_details()
    tensor_names = {d["index"]: n for n, d in details.items()}
    found = set()
    for d in model.interp.get_tensor_details():
        if d["index"] in tensor_names and producer.get(d["name"]) in heads:
            found.add(tensor_names[d["index"]])
    return found


def _io(path: Path) -> dict[str, Any]:
    """Input and output dtypes (and int8 scale/zero point) of the written file."""
    model = TfliteModel(path)
    out: dict[str, Any] = {}
    details = {**model.input_details()}
    if model.runner is not None:
        details.update(model.runner.get_output_details())
    for name, d in details.items():
        q = _quant(d)
        out[name] = {"dtype": np.dtype(d["dtype"]).name, "scale": q[0] if q else None,
                     "zero_point": q[1] if q else None}  # fmt: skip
    return out


def _speed(src: Path, dst: Path, one: Samples, repeats: int = 50) -> dict[str, Any]:
    """Median LiteRT latency (ms) of one row, one thread, float vs quantized."""

    def median_ms(path: Path) -> float:
        from edgekd.runtime.litert import load_interpreter

        model = TfliteModel.__new__(TfliteModel)
        model.path, model.interp = path, load_interpreter(path, threads=1)
        sigs = model.interp.get_signature_list()
        model.key = next(iter(sigs), None)
        model.runner = model.interp.get_signature_runner(model.key) if model.key else None
        for _ in range(5):
            model.run(one)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            model.run(one)
            times.append((time.perf_counter() - t0) * 1e3)
        return float(np.median(times))

    try:
        f, q = median_ms(src), median_ms(dst)
    except ModelFileError:
        return {}
    return {"1_thread": {"float_ms": f, "quant_ms": q, "speedup": f / q if q > 0 else None},
            "batch_size": 1}  # fmt: skip
