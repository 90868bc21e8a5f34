"""``edgekd.quantize(path_in, path_out, settings)``: any ONNX or TFLite file in, a quantized
file out, behind the quality guard. The CLI and the pipeline both call this.

Everything is checked before any work: the file's format, the output path (never the input
unless ``force``), the method for that format, the calibration and validation data against
the model's input signature, and labels against the model's classes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edgekd.data.loaders import DataSplits
from edgekd.errors import DataError, StageError, UsageError
from edgekd.profile.shapes import InputSpec, check_given, check_names
from edgekd.quantize.config import QuantizeConfig
from edgekd.quantize.guard import Bar, Judge, OnnxBackend, accuracy, float_reference, guard
from edgekd.quantize.onnx_quant import PtqSettings
from edgekd.quantize.signature import Samples, as_samples, read_arrays, split_rows

CalibSource = Path | str | np.ndarray | Mapping[str, np.ndarray] | None
ValSource = Path | str | tuple[Any, np.ndarray] | None
METHODS = {
    "onnx": ("static", "dynamic", "fp16"),
    "tflite": ("static", "dynamic", "weight_only", "fp16"),
}
RANDOM_ROWS = 8  # held-out rows drawn at random when no data is given (fp16, dynamic)


def settings_from_config(cfg: QuantizeConfig) -> PtqSettings:
    """The guard's first attempt, from the recipe's ``quantize`` section."""
    if cfg.method in ("none", "qat"):
        raise UsageError(
            f"quantize.method={cfg.method!r} is not a post-training method; "
            "expected static, dynamic or fp16 (QAT runs through edgekd.quantize.qat.qat)"
        )
    return PtqSettings(
        method=cfg.method,
        calibration=cfg.calibration,
        calib_samples=cfg.calib_samples,
        percentile=cfg.percentile,
        per_channel=cfg.per_channel,
        exclude_op_types=tuple(cfg.exclude_op_types),
        exclude_nodes=tuple(cfg.exclude_nodes),
    )


def quantize(
    path_in: str | Path,
    path_out: str | Path,
    settings: QuantizeConfig | None = None,
    data: DataSplits | None = None,
    *,
    calib: CalibSource = None,
    val: ValSource = None,
    force: bool = False,
) -> dict[str, Any]:
    """Quantize the ONNX or TFLite file ``path_in`` into ``path_out``.

    ``settings`` is the recipe's ``quantize`` section (default: static int8). Calibration rows
    come from ``calib`` (an .npz path keyed by input name, or a single array ``x``; arrays by
    input name; one array) or ``data.calib``; labelled validation rows from ``val`` (an .npz
    with the inputs and ``y``, or ``(x, y)``) or ``data.val``. Without labels the guard
    compares outputs on held-out rows. Returns the report: ``attempts``, ``chosen``,
    ``outputs`` (per-output errors), accuracies when labelled, node counts and sizes.
    Raises ``StageError`` (exit 1) when no attempt meets the bar and ``allow_degraded`` is
    false (the best attempt is still written; the report rides on the error as ``.report``).
    """
    from edgekd.profile.static import detect_format

    cfg = settings or QuantizeConfig(method="static")
    src, dst = Path(path_in), Path(path_out)
    fmt = detect_format(src)
    check_output(src, dst, fmt, force)
    if cfg.method not in METHODS[fmt]:
        if cfg.method in ("none", "qat"):
            settings_from_config(cfg)  # raises the explanation
        raise UsageError(
            f"--method {cfg.method!r} does not apply to a .{fmt} file; expected one of "
            f"{', '.join(METHODS[fmt])}"
        )
    if data is not None:
        from edgekd.data.dataset import gather

        calib = gather(data.calib) if calib is None else calib
        if val is None and data.val.y is not None:
            val = (gather(data.val), data.val.y)
    if fmt == "tflite":
        from edgekd.quantize.tflite_quant import quantize_tflite

        return quantize_tflite(src, dst, cfg, calib, val)
    return _quantize_onnx(src, dst, cfg, calib, val)


def check_output(src: Path, dst: Path, fmt: str, force: bool) -> None:
    """The output is a file of the input's format and never the input itself (unless forced)."""
    if dst.suffix.lower() != f".{fmt}":
        raise UsageError(f"--out {dst}: the quantized model is .{fmt} like its input {src}")
    same = dst.resolve() == src.resolve() or (dst.exists() and dst.samefile(src))
    if same and not force:
        raise UsageError(
            f"--out {dst} is the input file: quantizing would overwrite it; choose another "
            "path or pass --force"
        )
    if dst.is_dir():
        raise UsageError(f"--out {dst} is a directory; give a file path")


def load_val(
    val: ValSource, specs: list[InputSpec], given: Mapping[str, list[int]] | None
) -> tuple[Samples, np.ndarray, str]:
    """Validation rows and integer labels; ``what`` names the source in messages."""
    if isinstance(val, (str, Path)):
        arrays = read_arrays(Path(val), "--val")
        if "y" not in arrays:
            raise DataError(
                f"--val {val}: needs labels (an array named 'y'; found {sorted(arrays)})"
            )
        y = arrays.pop("y")
        what = f"--val {val}"
        samples = as_samples(arrays, specs, what, given)
    else:
        x, y = val  # type: ignore[misc]
        samples = as_samples(x, specs, "--val", given)
        what = "validation data"
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(samples):
        raise DataError(f"{what}: 'y' must hold one label per row ({len(samples)}), got {y.shape}")
    if y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0):
        raise DataError(f"{what}: labels 'y' must be integer class indices")
    return samples, y.astype(np.int64), what


def check_labels(y: np.ndarray, reference: dict[str, np.ndarray], what: str) -> None:
    """Labels index the classes of the model's first output, which must be (N, classes)."""
    name, out = next(iter(reference.items()))
    if out.ndim != 2:
        raise DataError(
            f"{what}: labels need a classifier whose first output is (N, classes); output "
            f"{name!r} is {out.shape[1:]} per row. Drop --val: the guard then compares the "
            "quantized outputs with the float ones (--max-output-error)"
        )
    classes = out.shape[1]
    if len(y) and (y.min() < 0 or y.max() >= classes):
        raise DataError(
            f"{what}: labels range {int(y.min())}..{int(y.max())} but output {name!r} has "
            f"{classes} classes (labels 0..{classes - 1})"
        )


def random_samples(specs: list[InputSpec], given: Mapping[str, list[int]], rows: int) -> Samples:
    """Random rows of the model's inputs (symbolic dims: given sizes, else 1)."""
    rng = np.random.default_rng(0)
    arrays = {}
    for s in specs:
        shape = list(given.get(s.name) or [d if isinstance(d, int) else 1 for d in s.dims])
        free = bool(s.dims) and not isinstance(s.dims[0], int)
        full = [rows, *(shape[1:] if free else shape)]
        dt = np.dtype(s.dtype)
        arrays[s.name] = (
            rng.standard_normal(full).astype(dt) if dt.kind == "f" else np.zeros(full, dt)
        )
    return Samples(specs, arrays)


def prepare(
    specs: list[InputSpec],
    cfg: QuantizeConfig,
    calib: CalibSource,
    val: ValSource,
    needs_calib: bool,
    source: str,
) -> dict[str, Any]:
    """Calibration rows, held-out rows, labels: checked against ``specs`` before any work."""
    given = check_given(cfg.input_shapes, "quantize.input_shapes / --input-shape")
    given = check_names(specs, given, source)
    samples = as_samples(calib, specs, "--calib", given) if calib is not None else None
    val_rows, labels, what = (None, None, "")
    if val is not None:
        val_rows, labels, what = load_val(val, specs, given)
    if needs_calib and samples is None:
        raise DataError("static quantization needs calibration data (--calib DATA.npz)")
    if samples is not None and needs_calib and len(samples) < cfg.calib_samples:
        raise DataError(
            f"calibration set has {len(samples)} samples but {cfg.calib_samples} were requested "
            "(quantize.calib_samples / --calib-samples)"
        )
    if samples is not None:
        cal, held, how = split_rows(samples, cfg.calib_samples, val_rows)
    else:
        cal = None
        held = val_rows if val_rows is not None else random_samples(specs, given, RANDOM_ROWS)
        how = "validation rows" if val_rows is not None else f"{RANDOM_ROWS} random input rows"
    return {"calib": cal, "held": held, "how": how, "labels": labels, "what": what}


def make_judge(
    backend: Any, src: Path, cfg: QuantizeConfig, prep: dict[str, Any], logits: set[str]
) -> Judge:
    reference = float_reference(backend, src, prep["held"])
    labels = prep["labels"]
    float_acc = None
    if labels is not None:
        check_labels(labels, reference, prep["what"])
        float_acc = accuracy(next(iter(reference.values())), labels)
    bar = Bar(
        max_drop=cfg.max_accuracy_drop,
        max_rel_l2=cfg.max_output_error if cfg.max_output_error is not None else Bar().max_rel_l2,
        min_top1=cfg.min_top1_agreement if cfg.min_top1_agreement is not None else Bar().min_top1,
    )
    explicit = cfg.max_output_error is not None or cfg.min_top1_agreement is not None
    return Judge(backend, prep["held"], reference, logits, bar, labels, float_acc, explicit)


def _choose_format(
    src: Path,
    dst: Path,
    report: dict[str, Any],
    cal: Samples,
    judge: Judge,
    feed: dict[str, np.ndarray],
) -> None:
    """Measure the int8 formats for onnxruntime (``edgekd.quantize.formats``), keep the best
    in ``dst`` and record the choice; the report's outputs then describe the written file."""
    from edgekd.quantize.formats import choose_format

    record, win = choose_format(src, dst, PtqSettings.from_dict(report["chosen"]), cal, judge, feed)
    report["int8_format"] = record
    report["chosen"] = win.to_dict()
    final = judge(dst)
    report["outputs"] = final["outputs"]
    if final.get("val_accuracy") is not None:
        report["quant_val_accuracy"] = final["val_accuracy"]


def _quantize_onnx(
    src: Path, dst: Path, cfg: QuantizeConfig, calib: CalibSource, val: ValSource
) -> dict[str, Any]:
    from edgekd.profile.shapes import onnx_inputs
    from edgekd.quantize.onnx_quant import check_model, load_model, onnx_bytes
    from edgekd.quantize.quality import logit_outputs
    from edgekd.quantize.speedup import classify_nodes, measured_speedup, runtime_ops

    base = settings_from_config(cfg)
    model = load_model(src)
    check_model(model, src, base)
    specs = onnx_inputs(model)
    prep = prepare(specs, cfg, calib, val, base.method != "fp16", str(src))
    cal = prep["calib"]
    if cal is not None and len(cal) < base.calib_samples:  # rows were held out of a small set
        base = dataclasses.replace(base, calib_samples=len(cal))
    one = prep["held"].take(slice(0, 1))
    backend = OnnxBackend(src, cal, next(one.feeds(), None))
    judge = make_judge(backend, src, cfg, prep, logit_outputs(model))
    report = guard(backend, base, dst, judge, cfg.allow_degraded)
    if report["chosen"]["method"] == "static" and cfg.choose_format:
        assert cal is not None  # static quantization always has calibration rows
        _choose_format(src, dst, report, cal, judge, next(one.feeds()))
    shapes = {k: list(v.shape) for k, v in next(one.feeds()).items()}
    nodes = classify_nodes(dst, shapes)
    fp16 = report["chosen"]["method"] == "fp16"
    if not fp16 and nodes["int8_nodes"] == 0:
        msg = (
            f"no compute node of {src} stays int8 within the bar: the only attempt that meets "
            f"it keeps every one in float (kept at {dst}, {len(report['attempts'])} attempts); "
            "int8 gains nothing on this model"
        )
        if not cfg.allow_degraded:
            err = StageError(msg)
            err.report = report  # type: ignore[attr-defined]
            raise err
        report["warnings"] = [*report["warnings"], msg]
    report.update(
        format="onnx",
        precision="fp16" if fp16 else ("int8" if nodes["int8_nodes"] else "fp32"),
        held_out={"rows": len(prep["held"]), "from": prep["how"]},
        calibration_rows=len(cal) if cal is not None else 0,
        int8_nodes=nodes["int8_nodes"],
        float_nodes=nodes["float_nodes"],
        int8_mac_share=nodes["int8_mac_share"],
        expected_speedup=nodes["expected_speedup"],
        runtime_ops=runtime_ops(dst),
        float_bytes=onnx_bytes(src),  # with external data: a ratio of whole models
        quant_bytes=onnx_bytes(dst),
        measured_speedup=measured_speedup(src, dst, next(one.feeds()), repeats=20),
    )
    return report
