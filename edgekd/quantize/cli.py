"""``edgekd quantize MODEL --calib DATA.npz ...``: post-training quantization of any ONNX or
TFLite file. The command parses and prints; ``edgekd.quantize.api.quantize`` does the work.

Heavy backends (onnx, onnxruntime, ai-edge-quantizer) are imported inside the command, never
at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

METHODS = ("static", "dynamic", "fp16", "weight_only")
CALIBRATIONS = ("minmax", "entropy", "percentile")


def quantize_command(
    model: Annotated[Path, typer.Argument(help="Float ONNX or TFLite model to quantize.")],
    calib: Annotated[
        Path | None,
        typer.Option(
            "--calib",
            help="Calibration inputs: .npz with one array per input name (or 'x'), rows first.",
        ),
    ] = None,
    method: Annotated[
        str, typer.Option(help="static | dynamic | fp16 | weight_only (TFLite)")
    ] = "static",
    calibration: Annotated[str, typer.Option(help="minmax | entropy | percentile")] = "minmax",
    calib_samples: Annotated[int, typer.Option(help="Calibration rows to use.", min=1)] = 128,
    per_channel: Annotated[bool, typer.Option("--per-channel", help="Per-channel scales.")] = False,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="Node name to keep in float.")
    ] = None,
    exclude_op: Annotated[
        list[str] | None, typer.Option("--exclude-op", help="Op type to keep in float.")
    ] = None,
    val: Annotated[
        Path | None,
        typer.Option(help="Labelled .npz (inputs and 'y') for the accuracy guard."),
    ] = None,
    max_drop: Annotated[
        float, typer.Option(help="Max val accuracy drop, in points (with --val).", min=0)
    ] = 1.0,
    max_output_error: Annotated[
        float | None,
        typer.Option(help="Max relative L2 error per output (default 0.1 without --val).", min=0),
    ] = None,
    min_agreement: Annotated[
        float | None,
        typer.Option(
            help="Min top-1 agreement of logits outputs (default 0.95 without --val).",
            min=0,
            max=1,
        ),
    ] = None,
    input_shape: Annotated[
        list[str] | None,
        typer.Option("--input-shape", help="Size of symbolic input dims: NAME=1,3,640,640."),
    ] = None,
    allow_degraded: Annotated[
        bool, typer.Option("--allow-degraded", help="Keep the best attempt if none meets the bar.")
    ] = False,
    format_search: Annotated[
        bool,
        typer.Option(
            "--format-search/--no-format-search",
            help="Static ONNX: measure the int8 formats under onnxruntime, keep the fastest.",
        ),
    ] = True,
    out: Annotated[Path | None, typer.Option("--out", help="Output path.")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Allow --out to be the input file.")
    ] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Report JSON path.")] = None,
) -> None:
    """Quantize an ONNX model (onnxruntime) or a TFLite model (ai-edge-quantizer), checked
    against the float model."""
    from edgekd.errors import UsageError
    from edgekd.fileio import atomic_write_json
    from edgekd.profile.shapes import parse_input_shapes
    from edgekd.quantize.api import quantize
    from edgekd.quantize.config import QuantizeConfig

    if method not in METHODS:
        raise UsageError(f"--method {method!r}: expected one of {', '.join(METHODS)}")
    if calibration not in CALIBRATIONS:
        raise UsageError(
            f"--calibration {calibration!r}: expected one of {', '.join(CALIBRATIONS)}"
        )
    if max_output_error == 0:
        raise UsageError("--max-output-error must be > 0")
    if min_agreement == 0:
        raise UsageError("--min-agreement must be > 0")
    cfg = QuantizeConfig(
        method=method,  # type: ignore[arg-type]
        calibration=calibration,  # type: ignore[arg-type]
        calib_samples=calib_samples,
        per_channel=per_channel,
        exclude_nodes=list(exclude or ()),
        exclude_op_types=list(exclude_op or ()),
        max_accuracy_drop=max_drop,
        max_output_error=max_output_error,
        min_top1_agreement=min_agreement,
        input_shapes=parse_input_shapes(input_shape or []),
        allow_degraded=allow_degraded,
        choose_format=format_search,
    )
    out = out or default_out(model, method)
    result = quantize(model, out, cfg, calib=calib, val=val, force=force)
    print_result(out, result)
    if report is not None:
        atomic_write_json(report, result)


def default_out(model: Path, method: str) -> Path:
    tag = {"fp16": "fp16", "weight_only": "w8"}.get(method, "int8")
    return model.with_name(f"{model.stem}.{tag}{model.suffix or '.onnx'}")


def print_result(out: Path, result: dict[str, Any]) -> None:
    typer.echo(f"wrote {out} ({result['quant_bytes']} bytes, from {result['float_bytes']})")
    if "int8_nodes" in result:
        typer.echo(f"compute nodes: {result['int8_nodes']} int8, {result['float_nodes']} float")
    fmt = result.get("int8_format")
    if fmt:
        rows = [c for c in fmt["candidates"] if c.get("p50_ms") is not None]
        typer.echo(
            f"int8 format: {fmt['chosen']} (fastest within the bar of {len(rows)} measured "
            f"under onnxruntime, batch 1, 1 thread; host VNNI: {fmt['host']['vnni']})"
        )
        for n in fmt.get("notes", []):
            typer.echo(f"note: {n}")
    for w in result.get("warnings", []):
        typer.echo(f"note: {w}")
    held = result.get("held_out", {})
    for name, m in result.get("outputs", {}).items():
        top1 = "" if m.get("top1") is None else f", top-1 agreement {m['top1']:.3f}"
        if m.get("rel_l2") is None:
            typer.echo(f"output {name}: {m.get('error')}")
            continue
        typer.echo(
            f"output {name}: relative L2 error {m['rel_l2']:.3g}, max abs {m['max_abs']:.3g}, "
            f"cosine {m['cosine'] if m['cosine'] is None else format(m['cosine'], '.4f')}{top1}"
            f" ({held.get('rows', '?')} held-out rows)"
        )
    if result.get("float_val_accuracy") is not None:
        typer.echo(
            f"val accuracy: float {result['float_val_accuracy']:.2f}%, "
            f"quantized {result['quant_val_accuracy']:.2f}%"
        )
    skipped = [a for a in result.get("attempts", []) if "skipped" in a or "error" in a]
    typer.echo(
        f"{len(result.get('attempts', []))} attempt(s), chosen: {_settings(result['chosen'])}"
        + (f" ({len(skipped)} skipped)" if skipped else "")
    )
    for a in skipped:
        typer.echo(f"  skipped {_settings(a['settings'])}: {a.get('skipped') or a.get('error')}")


def _settings(s: dict[str, Any]) -> str:
    parts = [s.get("method", "?")]
    if s.get("calibration"):
        parts.append(s["calibration"])
    if s.get("per_channel"):
        parts.append("per-channel")
    if s.get("exclude_nodes"):
        parts.append("float: " + ", ".join(s["exclude_nodes"]))
    return " ".join(parts)


def register(app: typer.Typer) -> None:
    """Add ``edgekd quantize`` to ``app``."""
    app.command("quantize")(quantize_command)
