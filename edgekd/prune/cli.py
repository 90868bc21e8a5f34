"""``edgekd prune MODEL ...``: prune a zoo model's weights and fine-tune it by self-distillation.

MODEL is a state dict of a zoo architecture (``--arch/--width/--depth``; ``.safetensors`` or
a ``torch.save``'d ``.pt``): the layers must be real ``nn.Conv2d``/``nn.Linear`` modules to be
pruned, which TorchScript and ``torch.export`` files do not have. The teacher for fine-tuning
is the unpruned model itself; its logits on the training split are computed once, before
pruning. The pruned model is written as a ``torch.export`` program (``.pt2``; structured
pruning changes layer shapes, so a zoo state dict could not describe it) or, for unstructured
pruning, as ``.safetensors``: ``--out``'s suffix chooses, and any other suffix is refused.

Heavy backends are imported inside the command, never at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

# PruneConfig fields whose command-line option has another name
OPTION_OF = {"max_accuracy_drop": "max-drop", "fine_tune.epochs": "epochs", "fine_tune.lr": "lr"}


def check_model_file(path: Path) -> None:
    """Refuse a MODEL that is not a readable state dict, before any data is loaded."""
    from edgekd.errors import ModelFileError, UsageError
    from edgekd.models.files import TORCH_KINDS, read_state_dict, torch_file_kind

    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    suffix = path.suffix.lower()
    if suffix not in (".safetensors", ".pt", ".pth", ".pt2"):
        raise UsageError(f"{path}: expected a .safetensors (or torch.save'd .pt) state dict")
    kind = "pickle" if suffix == ".safetensors" else torch_file_kind(path)
    if kind in ("torchscript", "exported"):
        raise UsageError(
            f"{path}: {TORCH_KINDS[kind]} has no editable layers to prune; pass the model's "
            "state dict (.safetensors, or torch.save(model.state_dict())) with "
            "--arch/--width/--depth"
        )
    if kind == "unknown":
        raise ModelFileError(f"{path}: {TORCH_KINDS[kind]} (corrupt or truncated?)")
    read_state_dict(path)


def load_zoo_model(path: Path, arch: str, width: int, depth: int, data: Any) -> Any:
    """Build the zoo model and load the state dict at ``path`` (a ``.safetensors`` file or a
    ``torch.save``'d ``.pt``/``.pth``) into it (strict)."""
    from edgekd.models.files import load_zoo_weights

    check_model_file(path)
    return load_zoo_weights(path, arch, data.input_shape, data.num_classes, width, depth)


def load_cli_data(spec: str) -> Any:
    """``digits`` (or another built-in) or a PATH.npz with arrays 'x' and 'y'."""
    from edgekd.data.config import DataConfig
    from edgekd.data.loaders import load_data
    from edgekd.data.sources import BUILTIN

    # pruning draws no calibration samples: ask for one, so small data sets are not refused
    if spec in BUILTIN:
        return load_data(DataConfig(source=spec, calib_samples=1))  # type: ignore[arg-type]
    return load_data(DataConfig(source="npz", path=Path(spec), calib_samples=1))


# --out suffix -> what is written; the content always matches the suffix.
OUT_SUFFIXES = {
    ".pt2": "torch.export program (any pruning method)",
    ".safetensors": "state dict of the zoo architecture (unstructured pruning only)",
}


def check_out(out: Path, method: str) -> None:
    """Refuse an output name whose suffix would not match what prune writes."""
    from edgekd.errors import UsageError

    suffix = out.suffix.lower()
    if suffix not in OUT_SUFFIXES:
        allowed = "; ".join(f"{k}: {v}" for k, v in OUT_SUFFIXES.items())
        raise UsageError(
            f"--out {out}: prune writes {allowed}, not {suffix or 'a file without suffix'!r}"
            + ("; for ONNX, run `edgekd export OUT.pt2 --format onnx`" if suffix == ".onnx" else "")
        )
    if suffix == ".safetensors" and method == "structured":
        raise UsageError(
            f"--out {out}: structured pruning changes layer shapes, which a zoo state dict "
            "cannot describe; write a .pt2 file"
        )


def save_model(model: Any, out: Path, sample: Any) -> None:
    """Write the pruned model in the format ``out``'s suffix names (``check_out`` first)."""
    from edgekd.models.files import save_exported, save_weights

    if out.suffix.lower() == ".safetensors":
        save_weights(model, out)
    else:
        save_exported(model, sample, out)


def prune_command(
    model: Annotated[
        Path, typer.Argument(help="State dict of a zoo model (.safetensors or torch.save'd .pt).")
    ],
    data: Annotated[str, typer.Option(help="digits (or a built-in) or PATH.npz.")] = "digits",
    arch: Annotated[str, typer.Option(help="Zoo architecture of MODEL.")] = "cnn",
    width: Annotated[int, typer.Option(help="Zoo width of MODEL.")] = 8,
    depth: Annotated[int, typer.Option(help="Zoo depth of MODEL.")] = 2,
    method: Annotated[str, typer.Option(help="unstructured | structured")] = "structured",
    sparsity: Annotated[float, typer.Option(help="Share of weights/channels to remove.")] = 0.5,
    scope: Annotated[str, typer.Option(help="global | layer")] = "global",
    importance: Annotated[str, typer.Option(help="l1 | l2 | taylor")] = "l1",
    steps: Annotated[int, typer.Option(help="Pruning steps.")] = 4,
    epochs: Annotated[int, typer.Option(help="Fine-tuning epochs in total.")] = 40,
    lr: Annotated[float, typer.Option(help="Fine-tuning learning rate (Adam).")] = 5e-3,
    max_drop: Annotated[
        float, typer.Option("--max-drop", help="Val accuracy points pruning may cost (warns).")
    ] = 1.0,
    threads: Annotated[
        int, typer.Option(min=0, help="torch threads for fine-tuning (0: one per core).")
    ] = 1,
    out: Annotated[Path | None, typer.Option("--out", help="Output .pt2 or .safetensors.")] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the report JSON here.")
    ] = None,
) -> None:
    """Prune a model (fewer channels, or zeroed weights) and fine-tune it by self-distillation."""
    from pydantic import ValidationError

    from edgekd.distill.config import DistillConfig
    from edgekd.errors import RecipeError
    from edgekd.fileio import atomic_write_json
    from edgekd.prune.api import prune
    from edgekd.prune.config import PruneConfig
    from edgekd.train.config import TrainConfig
    from edgekd.train.loop import predict
    from edgekd.train.threads import torch_threads

    try:
        cfg = PruneConfig(
            method=method,  # type: ignore[arg-type]
            sparsity=sparsity,
            scope=scope,  # type: ignore[arg-type]
            importance=importance,  # type: ignore[arg-type]
            steps=steps,
            fine_tune=TrainConfig(epochs=epochs, lr=lr),
            max_accuracy_drop=max_drop,
        )
    except ValidationError as exc:
        e = exc.errors()[0]
        field = ".".join(str(x) for x in e["loc"])
        option = OPTION_OF.get(field, field.replace("_", "-"))
        raise RecipeError(f"--{option}: {e['msg']}") from None
    out = out or model.with_name(f"{model.stem}.pruned.pt2")
    check_out(out, method)
    check_model_file(model)
    splits = load_cli_data(data)
    net = load_zoo_model(model, arch, width, depth, splits)
    with torch_threads(threads):  # one thread is fastest for these small models
        teacher_logits = predict(net, splits.train.x)  # the dense model teaches its pruned self
        pruned, result = prune(net, cfg, splits, teacher_logits, DistillConfig())
    save_model(pruned, out, splits.val.x[:2])
    typer.echo(f"wrote {out}")
    for line in summary_lines(result):
        typer.echo(line)
    if "note" in result:
        typer.echo(f"note: {result['note']}")
    if "warning" in result:  # one loud line on stderr; also in the --report JSON
        typer.secho(f"warning: {result['warning']}", fg="yellow", err=True)
    if report is not None:
        atomic_write_json(report, result)


def summary_lines(result: dict[str, Any]) -> list[str]:
    """What pruning did, in the units that matter for its method: channels removed
    (structured) or the share of zero weights (unstructured), and val accuracy before/after."""
    b, a = result["before"], result["after"]
    lines = [
        f"params {b['params']:,} -> {a['params']:,}, MACs {b['macs']:,} -> {a['macs']:,}",
        f"gzip'd weights {b['gzip_bytes']:,} -> {a['gzip_bytes']:,} bytes",
    ]
    if result["method"] == "structured":
        layers = [n for n in b["channels"] if a["channels"][n] != b["channels"][n]]
        kept = sum(a["channels"][n] for n in layers)
        total = sum(b["channels"][n] for n in layers)
        lines.append(
            f"channels {total} -> {kept} ({100 * (1 - kept / max(total, 1)):.1f}% removed): "
            + ", ".join(f"{n} {b['channels'][n]}->{a['channels'][n]}" for n in layers)
        )
    else:
        lines.append(f"sparsity {100 * a['sparsity']:.1f}% of Conv/Linear weights are zero")
    change = 0.0 - result["accuracy_drop_pp"]  # 0.0 - x: never prints "-0.00"
    lines.append(
        f"val accuracy {100 * b['val_accuracy']:.2f}% -> {100 * a['val_accuracy']:.2f}% "
        f"({change:+.2f} points; max drop {result['max_accuracy_drop']:g})"
    )
    return lines


def register(app: typer.Typer) -> None:
    """Add ``edgekd prune`` to ``app``."""
    app.command("prune")(prune_command)
