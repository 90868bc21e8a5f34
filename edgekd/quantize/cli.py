"""``edgekd quantize MODEL.onnx --calib DATA.npz ...``: post-training quantization of any ONNX file.

Heavy backends (onnx, onnxruntime) are imported inside the command, never at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def quantize_command(
    model: Annotated[Path, typer.Argument(help="Float32 ONNX model to quantize.")],
    calib: Annotated[
        Path | None,
        typer.Option("--calib", help="Calibration inputs: .npz with 'x' shaped like the input."),
    ] = None,
    method: Annotated[str, typer.Option(help="static | dynamic | fp16")] = "static",
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
        typer.Option(help="Labeled .npz ('x', 'y') for the accuracy guard (off without it)."),
    ] = None,
    max_drop: Annotated[float, typer.Option(help="Max val accuracy drop, in points.")] = 1.0,
    allow_degraded: Annotated[
        bool, typer.Option("--allow-degraded", help="Keep the best attempt if none meets the bar.")
    ] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Output path.")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Report JSON path.")] = None,
) -> None:
    """Quantize an ONNX model with onnxruntime (int8 QDQ, dynamic int8 or fp16)."""
    from edgekd.errors import UsageError
    from edgekd.fileio import atomic_write_json
    from edgekd.quantize.guard import guarded_quantize
    from edgekd.quantize.onnx_quant import PtqSettings, quantize_file
    from edgekd.quantize.speedup import classify_nodes

    if method not in ("static", "dynamic", "fp16"):
        raise UsageError(f"--method {method!r}: expected static, dynamic or fp16")
    if calibration not in ("minmax", "entropy", "percentile"):
        raise UsageError(f"--calibration {calibration!r}: expected minmax, entropy or percentile")
    if method == "static" and calib is None:
        raise UsageError("--method static needs --calib DATA.npz (calibration inputs)")
    out = out or model.with_name(f"{model.stem}.{'fp16' if method == 'fp16' else 'int8'}.onnx")
    settings = PtqSettings(
        method=method,
        calibration=calibration,
        calib_samples=calib_samples,
        per_channel=per_channel,
        exclude_nodes=tuple(exclude or ()),
        exclude_op_types=tuple(exclude_op or ()),
    )
    from edgekd.data.loaders import read_npz

    calib_x = read_npz(calib, "--calib")[0] if calib is not None else None
    if val is not None:
        val_x, val_y = read_npz(val, "--val", need_y=True)
        if val_y is None:
            raise UsageError(f"--val {val}: needs labels (an array named 'y')")
        result: dict[str, Any] = guarded_quantize(
            model, out, settings, calib_x, val_x, val_y, max_drop, allow_degraded
        )
    else:
        result = quantize_file(model, out, settings, calib_x)
    nodes = classify_nodes(out)
    result.update(
        int8_nodes=nodes["int8_nodes"],
        float_nodes=nodes["float_nodes"],
        float_bytes=model.stat().st_size,
        quant_bytes=out.stat().st_size,
    )
    typer.echo(f"wrote {out} ({result['quant_bytes']} bytes, from {result['float_bytes']})")
    typer.echo(f"compute nodes: {nodes['int8_nodes']} int8, {nodes['float_nodes']} float")
    if "float_val_accuracy" in result:
        typer.echo(
            f"val accuracy: float {result['float_val_accuracy']:.2f}%, "
            f"quantized {result['quant_val_accuracy']:.2f}% ({len(result['attempts'])} attempts)"
        )
    if report is not None:
        atomic_write_json(report, result)


def register(app: typer.Typer) -> None:
    """Add ``edgekd quantize`` to ``app``."""
    app.command("quantize")(quantize_command)
