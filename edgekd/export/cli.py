"""``edgekd export MODEL``: one model file to .onnx or .tflite, checked against its parent.

``register(app)`` adds the command to the main Typer app. Nothing heavy is imported here:
torch, litert-torch and onnx load inside the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from edgekd.export.stage import FORMATS
from edgekd.export.tflite_export import PRECISIONS
from edgekd.models.keras_files import SUFFIXES as KERAS_SUFFIXES


def register(app: typer.Typer) -> None:
    """Add the ``export`` command to ``app``."""
    app.command(name="export")(export)


def export(
    model: Annotated[
        Path,
        typer.Argument(
            help="TorchScript .pt, torch.export .pt2, safetensors state dict (+ --arch ...), "
            "or a Keras 2 .keras/.h5 model."
        ),
    ],
    format: Annotated[str, typer.Option("--format", help=" | ".join(FORMATS))] = "tflite",
    precision: Annotated[
        str, typer.Option("--precision", help=" | ".join(PRECISIONS) + " (tflite)")
    ] = "fp32",
    calib: Annotated[
        Path | None,
        typer.Option(
            "--calib", help=".npz with array 'x' of model-ready (normalized) inputs; int8 needs it"
        ),
    ] = None,
    calib_samples: Annotated[
        int, typer.Option("--calib-samples", min=1, help="calibration rows used")
    ] = 128,
    int8_io: Annotated[
        bool, typer.Option("--int8-io", help="int8 input/output tensors (microcontrollers)")
    ] = False,
    out: Annotated[Path | None, typer.Option("--out", help="output file")] = None,
    c_array: Annotated[
        bool, typer.Option("--c-array", help="also write model_data.cc/.h next to --out")
    ] = False,
    arch: Annotated[str | None, typer.Option("--arch", help="zoo arch, for safetensors")] = None,
    width: Annotated[int | None, typer.Option("--width")] = None,
    depth: Annotated[int | None, typer.Option("--depth")] = None,
    input_shape: Annotated[
        str | None, typer.Option("--input-shape", help="one sample's shape, e.g. 1,8,8")
    ] = None,
    num_classes: Annotated[int | None, typer.Option("--num-classes")] = None,
) -> None:
    """Export MODEL to ONNX or TFLite and check it against MODEL on inputs of another batch size."""
    from edgekd.errors import UsageError

    if model.suffix.lower() in (".onnx", ".tflite"):
        raise UsageError(
            f"{model} is already exported ({model.suffix.lower()[1:]}); use "
            f"`edgekd quantize {model}` to quantize it or `edgekd profile {model}` to profile it"
        )

    if format not in FORMATS:
        raise UsageError(f"--format {format!r}: expected one of {', '.join(FORMATS)}")
    if precision not in PRECISIONS:
        raise UsageError(f"--precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if format == "onnx" and (precision != "fp32" or int8_io or c_array):
        raise UsageError("--format onnx exports fp32 only (no --precision/--int8-io/--c-array)")
    if int8_io and precision != "int8":
        raise UsageError("--int8-io needs --precision int8")
    if out is not None and out.suffix.lower() != f".{format}":
        raise UsageError(
            f"--out {out}: --format {format} writes a .{format} file; name it *.{format}"
        )
    from edgekd.data.loaders import read_npz

    calib_x = read_npz(calib, "--calib")[0][:calib_samples] if calib is not None else None
    suffix = ".onnx" if format == "onnx" else f".{precision}.tflite"
    target = out or model.with_name(model.name.split(".")[0] + suffix)
    if model.suffix.lower() in KERAS_SUFFIXES:
        _export_keras(model, target, format, precision, calib_x, calib, int8_io, c_array)
        return
    shape = _input_shape(input_shape, calib_x)
    module, shape = load_torch_model(model, shape, arch, width, depth, num_classes)
    if format == "onnx":
        _export_onnx(module, shape, target)
        return
    _export_tflite(module, shape, target, precision, calib_x, int8_io, c_array)


def _export_tflite(
    module: Any,
    shape: tuple[int, ...],
    target: Path,
    precision: str,
    calib_x: Any,
    int8_io: bool,
    c_array: bool,
) -> None:
    import numpy as np

    from edgekd.export.tflite_export import export_tflite

    sample = np.zeros((1, *shape), np.float32)
    result = export_tflite(module, sample, target, precision, calib=calib_x, int8_io=int8_io)
    _report_file(target, result, precision, c_array)


def _report_file(
    target: Path, result: Any, precision: str, c_array: bool, parent: str = "torch"
) -> None:
    """What the export wrote: file, I/O tensors, parity, C arrays."""
    meta, report = result.meta, result.parity
    typer.echo(f"wrote {target} ({meta['file_bytes']} bytes, {precision}, {meta['converter']})")
    for side in ("input", "output"):
        io = meta[side]
        q = f" scale={io['scale']:.6g} zero_point={io['zero_point']}" if io["scale"] else ""
        typer.echo(f"  {side} {io['name']}: {io['dtype']} {io['shape']}{q}")
    _print_parity(report, parent)
    if c_array:
        from edgekd.export.c_array import write_c_array

        cc, h = write_c_array(target, target.parent)
        typer.echo(f"wrote {cc} and {h}")


def _export_keras(
    model_path: Path,
    target: Path,
    format: str,
    precision: str,
    calib_x: Any,
    calib: Path | None,
    int8_io: bool,
    c_array: bool,
) -> None:
    """A Keras 2 ``.keras``/``.h5`` model (a TFMOT QAT ``.h5`` too) through TFLiteConverter
    (or tf2onnx); ``--calib`` is the representative dataset (and the parity inputs)."""
    import numpy as np

    from edgekd.errors import DataError
    from edgekd.export.keras_tflite import check_representative, export_keras_tflite
    from edgekd.export.parity import random_inputs
    from edgekd.models.keras_files import load_student

    module = load_student(model_path)
    shape = tuple(int(d) for d in module.input_shape[1:])
    if calib_x is not None:
        try:
            calib_x = check_representative(calib_x, module)
        except DataError as exc:
            raise DataError(f"--calib {calib}: {exc}") from None
    parity_x = calib_x[:256] if calib_x is not None else random_inputs(shape, 7)
    if format == "onnx":
        from edgekd.export.keras_onnx import export_keras_onnx

        onnx = export_keras_onnx(module, target, np.asarray(parity_x))
        typer.echo(f"wrote {onnx.path} ({onnx.meta['converter']})")
        _print_parity(onnx.parity, "Keras")
        return
    result = export_keras_tflite(
        module, target, precision, calib_x, int8_io, parity_x=np.asarray(parity_x)
    )
    _report_file(target, result, precision, c_array, "Keras")


def _export_onnx(module: Any, shape: tuple[int, ...], target: Path) -> None:
    import numpy as np

    from edgekd.export.onnx_export import export_onnx

    result = export_onnx(module, np.zeros((1, *shape), np.float32), target)
    typer.echo(f"wrote {result.path}")
    _print_parity(result.parity)


def _print_parity(report: Any, parent: str = "torch") -> None:
    agree = (
        "" if report.top1_agreement is None else f", top-1 agreement {report.top1_agreement:.4f}"
    )
    typer.echo(
        f"  parity vs {parent} on {report.batch_size} inputs: {report.status} "
        f"(max abs diff {report.max_abs_diff:.3g}{agree})"
    )


def _input_shape(text: str | None, calib_x: Any) -> tuple[int, ...] | None:
    from edgekd.errors import UsageError

    if text is None:
        return None if calib_x is None else tuple(int(d) for d in calib_x.shape[1:])
    try:
        shape = tuple(int(p) for p in text.replace("x", ",").split(",") if p.strip())
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise UsageError(f"--input-shape {text!r}: expected positive integers like 1,8,8")
    return shape


def load_torch_model(
    path: Path,
    shape: tuple[int, ...] | None,
    arch: str | None = None,
    width: int | None = None,
    depth: int | None = None,
    num_classes: int | None = None,
) -> tuple[Any, tuple[int, ...]]:
    """An exportable torch module from a model file (``edgekd.models.load``), and one
    sample's input shape.

    ``.pt``/``.pth`` TorchScript is turned into an ExportedProgram (``TS2EPConverter``), since
    litert-torch and ``torch.export`` take programs, not scripts. ``.pt2`` is a saved
    ``torch.export`` program. A state dict (``.safetensors`` or ``torch.save``'d) is a zoo
    model's: it needs ``--arch/--width/--depth/--input-shape/--num-classes``.
    """
    from edgekd.errors import ModelFileError, UsageError
    from edgekd.models.files import TORCH_KINDS, describe_state_dict, torch_file_kind
    from edgekd.models.load import (
        ModelSpec,
        exported_module,
        load_model,
        program_input_shape,
        script_program,
    )

    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    suffix = path.suffix.lower()
    if suffix not in (".safetensors", ".pt2", ".pt", ".pth"):
        raise ModelFileError(
            f"{path}: unknown model suffix {suffix!r}; expected .pt, .pth, .pt2 or .safetensors"
        )
    kind = "state_dict" if suffix == ".safetensors" else torch_file_kind(path)
    if kind in ("state_dict", "pickle"):
        what = describe_state_dict(path)  # refuses a pickle that is not a state dict
        given = dict(
            arch=arch, width=width, depth=depth, input_shape=shape, num_classes=num_classes
        )
        missing = [f"--{k.replace('_', '-')}" for k, v in given.items() if v is None]
        if missing:
            raise UsageError(
                f"{path}: {what}, which has no architecture: it needs {', '.join(missing)}"
            )
        assert arch and width and depth and shape and num_classes
        spec = ModelSpec("zoo", arch, shape, num_classes, width, depth)
        return load_model(path, spec), shape
    if kind == "exported":
        shape = shape or program_input_shape(path)
        if shape is None:
            raise UsageError(f"{path}: cannot tell the input shape; pass --input-shape")
        return exported_module(path), shape
    if kind == "torchscript":
        if shape is None:
            raise UsageError(
                f"{path}: TorchScript has no input shape; pass --input-shape or --calib"
            )
        return script_program(path, shape), shape
    raise ModelFileError(f"{path}: {TORCH_KINDS[kind]} (corrupt or truncated?)")
