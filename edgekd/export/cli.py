"""``edgekd export MODEL``: one model file to .onnx or .tflite, checked against its parent.

``register(app)`` adds the command to the main Typer app. Nothing heavy is imported here:
torch, litert-torch and onnx load inside the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

FORMATS = ("onnx", "tflite")
PRECISIONS = ("fp32", "fp16", "dynamic_int8", "int8")


def register(app: typer.Typer) -> None:
    """Add the ``export`` command to ``app``."""
    app.command(name="export")(export)


def export(
    model: Annotated[
        Path,
        typer.Argument(
            help="TorchScript .pt, torch.export .pt2, or safetensors state dict (+ --arch ...)."
        ),
    ],
    format: Annotated[str, typer.Option("--format", help="onnx | tflite")] = "tflite",
    precision: Annotated[
        str, typer.Option("--precision", help="fp32 | fp16 | dynamic_int8 | int8 (tflite)")
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
    shape = _input_shape(input_shape, calib_x)
    module, shape = load_torch_model(model, shape, arch, width, depth, num_classes)
    suffix = ".onnx" if format == "onnx" else f".{precision}.tflite"
    target = out or model.with_name(model.name.split(".")[0] + suffix)
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
    from edgekd.export.tflite_parity import check_tflite_parity

    sample = np.zeros((1, *shape), np.float32)
    meta = export_tflite(module, sample, target, precision, calib=calib_x, int8_io=int8_io)
    quantized = precision in ("dynamic_int8", "int8")
    if calib_x is not None:
        x = calib_x[:256]
    else:
        x = np.random.default_rng(0).standard_normal((64 if quantized else 7, *shape))
    # quantized files are gated only on real inputs: random ones say little about top-1
    report = check_tflite_parity(
        module, target, x.astype(np.float32), precision, gate=not quantized or calib_x is not None
    )
    typer.echo(f"wrote {target} ({meta['file_bytes']} bytes, {precision}, {meta['converter']})")
    for side in ("input", "output"):
        io = meta[side]
        q = f" scale={io['scale']:.6g} zero_point={io['zero_point']}" if io["scale"] else ""
        typer.echo(f"  {side} {io['name']}: {io['dtype']} {io['shape']}{q}")
    agree = (
        "" if report.top1_agreement is None else f", top-1 agreement {report.top1_agreement:.4f}"
    )
    typer.echo(
        f"  parity vs torch on {len(x)} inputs: {report.status} "
        f"(max abs diff {report.max_abs_diff:.3g}{agree})"
    )
    if c_array:
        from edgekd.export.c_array import write_c_array

        cc, h = write_c_array(target, target.parent)
        typer.echo(f"wrote {cc} and {h}")


def _export_onnx(module: Any, shape: tuple[int, ...], target: Path) -> None:
    import numpy as np

    from edgekd.export.config import ExportConfig
    from edgekd.export.onnx_export import export_onnx
    from edgekd.export.parity import compare_outputs, raise_on_failure
    from edgekd.export.tflite_parity import torch_outputs
    from edgekd.runtime.onnx import OnnxRunner

    path = export_onnx(module, np.zeros((1, *shape), np.float32), target, opset=18)
    cfg = ExportConfig()
    x = np.random.default_rng(0).standard_normal((cfg.parity_batch, *shape)).astype(np.float32)
    report = compare_outputs(
        {"logits": torch_outputs(module, x)},
        {"logits": OnnxRunner(path).predict(x)},
        cfg.atol,
        cfg.rtol,
    )
    raise_on_failure(report, str(path))
    typer.echo(f"wrote {path}")
    typer.echo(
        f"  parity vs torch on {len(x)} inputs: {report.status} "
        f"(max abs diff {report.max_abs_diff:.3g})"
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
    """An exportable torch module from a model file, and one sample's input shape.

    ``.pt``/``.pth`` TorchScript is turned into an ExportedProgram (``TS2EPConverter``), since
    litert-torch and ``torch.export`` take programs, not scripts. ``.pt2`` is a saved
    ``torch.export`` program. ``.safetensors`` is a state dict for a zoo model.
    """
    from edgekd.errors import ModelFileError, UsageError
    from edgekd.models.files import TORCH_KINDS, describe_state_dict, torch_file_kind

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
        from edgekd.models.files import load_zoo_weights

        return load_zoo_weights(path, arch, shape, num_classes, width, depth), shape
    if kind == "exported":
        return _load_exported(path, shape)
    if kind == "torchscript":
        if shape is None:
            raise UsageError(
                f"{path}: TorchScript has no input shape; pass --input-shape or --calib"
            )
        return _load_torchscript(path, shape), shape
    raise ModelFileError(f"{path}: {TORCH_KINDS[kind]} (corrupt or truncated?)")


def _load_exported(path: Path, shape: tuple[int, ...] | None) -> tuple[Any, tuple[int, ...]]:
    import torch

    from edgekd.errors import ModelFileError, UsageError

    try:
        program = torch.export.load(str(path))
    except Exception as exc:
        raise ModelFileError(f"{path}: not a readable torch.export file ({exc})") from None
    if shape is None:
        metas = [n.meta.get("val") for n in program.graph.nodes if n.op == "placeholder"]
        users = [m for m in metas if m is not None][-1:]
        if not users:
            raise UsageError(f"{path}: cannot tell the input shape; pass --input-shape")
        shape = tuple(int(d) for d in users[0].shape[1:])
    return _as_module(program.module()), shape


def _load_torchscript(path: Path, shape: tuple[int, ...]) -> Any:
    import torch
    from torch._export.converter import TS2EPConverter

    from edgekd.errors import ModelFileError, StageError

    try:
        script = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"{path}: not a readable TorchScript file ({first})") from None
    script.eval()
    try:
        program = TS2EPConverter(script, (torch.zeros(1, *shape),)).convert()
    except Exception as exc:
        raise StageError(
            f"{path}: TorchScript could not be turned into a torch.export program ({exc}); "
            "save the model with torch.export.save (.pt2) instead"
        ) from None
    return _as_module(program.module())


def _program_class() -> Any:
    import torch

    class Program(torch.nn.Module):
        """An exported program's module behind an ``nn.Module`` whose ``eval()`` works.

        ``ExportedProgram.module()`` refuses ``train()``/``eval()`` (its graph is already
        frozen), which exporters and parity checks call; here they only set the flag.
        """

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x)

        def train(self, mode: bool = True) -> Program:
            self.training = mode
            return self

    return Program


def _as_module(inner: Any) -> Any:
    return _program_class()(inner)
