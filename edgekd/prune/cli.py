"""``edgekd prune MODEL ...``: prune a zoo model's weights and fine-tune it by self-distillation.

MODEL is a safetensors state dict of a zoo architecture (``--arch/--width/--depth``): the
layers must be real ``nn.Conv2d``/``nn.Linear`` modules to be pruned, which TorchScript and
``torch.export`` files do not have. The teacher for fine-tuning is the unpruned model itself;
its logits on the training split are computed once, before pruning. The pruned model is
written as a ``torch.export`` program (``.pt2``; structured pruning changes layer shapes, so
a zoo state dict could not describe it) or, for unstructured pruning, as ``.safetensors``.

Heavy backends are imported inside the command, never at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def load_zoo_model(path: Path, arch: str, width: int, depth: int, data: Any) -> Any:
    """Build the zoo model and load the safetensors weights at ``path`` into it (strict)."""
    from edgekd.errors import UsageError

    suffix = path.suffix.lower()
    if suffix in (".pt", ".pth", ".pt2"):
        raise UsageError(
            f"{path}: TorchScript and torch.export files have no editable layers to prune; "
            "pass the model's safetensors state dict with --arch/--width/--depth"
        )
    if suffix != ".safetensors":
        raise UsageError(f"{path}: expected a .safetensors state dict of a zoo model")
    from edgekd.models.files import load_zoo_weights

    return load_zoo_weights(path, arch, data.input_shape, data.num_classes, width, depth)


def load_cli_data(spec: str) -> Any:
    """``digits`` (or another built-in) or a PATH.npz with arrays 'x' and 'y'."""
    from edgekd.data.config import BUILTIN_DATASETS, DataConfig
    from edgekd.data.loaders import load_data

    if spec in BUILTIN_DATASETS:
        return load_data(DataConfig(source=spec))  # type: ignore[arg-type]
    return load_data(DataConfig(source="npz", path=Path(spec)))


def save_model(model: Any, out: Path, method: str, sample: Any) -> None:
    from edgekd.errors import UsageError
    from edgekd.models.files import save_exported, save_weights

    if out.suffix != ".safetensors":
        save_exported(model, sample, out)
    elif method == "structured":
        raise UsageError(f"--out {out}: structured pruning changes layer shapes; write a .pt2 file")
    else:
        save_weights(model, out)


def prune_command(
    model: Annotated[Path, typer.Argument(help="safetensors state dict of a zoo model.")],
    data: Annotated[str, typer.Option(help="digits (or a built-in) or PATH.npz.")] = "digits",
    arch: Annotated[str, typer.Option(help="Zoo architecture of MODEL.")] = "cnn",
    width: Annotated[int, typer.Option(help="Zoo width of MODEL.")] = 8,
    depth: Annotated[int, typer.Option(help="Zoo depth of MODEL.")] = 2,
    method: Annotated[str, typer.Option(help="unstructured | structured")] = "structured",
    sparsity: Annotated[float, typer.Option(help="Share of weights/channels to remove.")] = 0.5,
    scope: Annotated[str, typer.Option(help="global | layer")] = "global",
    importance: Annotated[str, typer.Option(help="l1 | l2 | taylor")] = "l1",
    steps: Annotated[int, typer.Option(help="Pruning steps.")] = 4,
    epochs: Annotated[int, typer.Option(help="Fine-tuning epochs in total.")] = 8,
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

    try:
        cfg = PruneConfig(
            method=method,  # type: ignore[arg-type]
            sparsity=sparsity,
            scope=scope,  # type: ignore[arg-type]
            importance=importance,  # type: ignore[arg-type]
            steps=steps,
            fine_tune=TrainConfig(epochs=epochs, lr=1e-3),
        )
    except ValidationError as exc:
        e = exc.errors()[0]
        field = ".".join(str(x) for x in e["loc"])
        raise RecipeError(f"--{field.replace('_', '-')}: {e['msg']}") from None
    splits = load_cli_data(data)
    net = load_zoo_model(model, arch, width, depth, splits)
    teacher_logits = predict(net, splits.train.x)  # the dense model teaches its pruned self
    pruned, result = prune(net, cfg, splits, teacher_logits, DistillConfig())
    out = out or model.with_name(f"{model.stem}.pruned.pt2")
    save_model(pruned, out, method, splits.val.x[:2])
    b, a = result["before"], result["after"]
    typer.echo(f"wrote {out}")
    typer.echo(f"params {b['params']} -> {a['params']}, MACs {b['macs']} -> {a['macs']}")
    typer.echo(f"gzip'd weights {b['gzip_bytes']} -> {a['gzip_bytes']} bytes")
    typer.echo(
        f"val accuracy {100 * b['val_accuracy']:.2f}% -> {100 * a['val_accuracy']:.2f}%, "
        f"sparsity {100 * a['sparsity']:.1f}%"
    )
    if "note" in result:
        typer.echo(f"note: {result['note']}")
    if report is not None:
        atomic_write_json(report, result)


def register(app: typer.Typer) -> None:
    """Add ``edgekd prune`` to ``app``."""
    app.command("prune")(prune_command)
