"""Weights from local files into a built architecture, checked key by key.

A weights file is a safetensors state dict, or a ``.pth``/``.pt``/``.bin`` state dict read with
``torch.load(weights_only=True)`` (never unpickled code). Keys must match the architecture;
two shape differences are repaired and reported, as fine-tuning practice does: a classifier
head for another class count is re-initialized, and a first convolution trained on RGB is
adapted to the data's channels (timm's ``adapt_input_conv``). Anything else is a
``ModelFileError`` (exit 2) naming the first mismatching keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekd.errors import ModelFileError

if TYPE_CHECKING:
    import torch
    from torch import nn

TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")
SHOWN = 5  # mismatching keys named in an error


def read_state_dict(path: str | Path, where: str = "weights") -> dict[str, torch.Tensor]:
    """A state dict from ``path``: safetensors, or a torch file loaded with
    ``weights_only=True`` (a checkpoint dict with a ``state_dict``/``model`` entry is
    unwrapped, and a ``module.`` prefix from DataParallel is dropped)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{where}: file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state: Any = load_file(str(path))
        except Exception as exc:
            raise ModelFileError(
                f"{where}: {path}: not a readable safetensors file: {exc}"
            ) from None
    elif suffix in TORCH_SUFFIXES:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelFileError(
                f"{where}: {path}: not a state dict torch can load with weights_only=True "
                f"(a pickled model or a corrupt file?): {first}"
            ) from None
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                state = state[key]
                break
    else:
        raise ModelFileError(
            f"{where}: {path}: expected a .safetensors file or a torch state dict "
            f"({', '.join(TORCH_SUFFIXES)})"
        )
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ModelFileError(f"{where}: {path}: not a state dict (a mapping of names to tensors)")
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


def head_params(model: nn.Module, num_classes: int) -> set[str]:
    """Parameter names of the classifier: the last Linear/Conv layer with ``num_classes``
    outputs."""
    from torch import nn

    head = None
    for name, m in model.named_modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.Conv1d)) and m.weight.shape[0] == num_classes:
            head = name
    if head is None:
        return set()
    prefix = f"{head}." if head else ""
    return {f"{prefix}weight", f"{prefix}bias"}


def first_conv_weight(model: nn.Module) -> str | None:
    from torch import nn

    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            return f"{name}.weight"
    return None


def load_state(
    model: nn.Module,
    state: dict[str, torch.Tensor],
    num_classes: int,
    what: str,
) -> dict[str, Any]:
    """Load ``state`` into ``model`` (strict on keys). ``what`` names the file and field for
    errors. Returns what was repaired: ``head_reset`` (re-initialized classifier parameters)
    and ``input_adapted`` (the first conv's channels)."""
    from edgekd.models.vision import adapt_conv_weight

    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {_first(missing)}")
        if unexpected:
            parts.append(f"unexpected {_first(unexpected)}")
        raise ModelFileError(
            f"{what}: keys do not match the architecture ({type(model).__name__}): "
            + "; ".join(parts)
        )
    head, conv = head_params(model, num_classes), first_conv_weight(model)
    merged, reset, adapted, bad = dict(state), [], False, []
    for key, mine in own.items():
        theirs = state[key]
        if tuple(theirs.shape) == tuple(mine.shape):
            continue
        if key in head:
            merged[key] = mine
            reset.append(f"{key} {tuple(theirs.shape)} -> {tuple(mine.shape)}")
        elif (
            key == conv
            and theirs.ndim == 4
            and theirs.shape[0] == mine.shape[0]
            and theirs.shape[2:] == mine.shape[2:]
        ):
            merged[key] = adapt_conv_weight(theirs, int(mine.shape[1])).to(mine.dtype)
            adapted = True
        else:
            bad.append(f"{key} {tuple(theirs.shape)} in the file, {tuple(mine.shape)} here")
    if bad:
        raise ModelFileError(
            f"{what}: tensor shapes do not match the architecture ({type(model).__name__}): "
            + _first(bad)
        )
    model.load_state_dict(merged)
    return {"head_reset": reset, "input_adapted": adapted}


def _first(keys: list[str]) -> str:
    more = f" ... ({len(keys)} in all)" if len(keys) > SHOWN else ""
    return ", ".join(keys[:SHOWN]) + more
