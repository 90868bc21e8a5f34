"""Model files: zoo weights as safetensors, whole models as ``torch.export`` programs.

Every write is atomic (temporary name, then rename), so a crash never leaves a half file.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgekd.errors import ModelFileError
from edgekd.fileio import atomic_save, atomic_write_bytes
from edgekd.models.zoo import build_model


def load_zoo_weights(
    path: Path, arch: str, input_shape: tuple[int, ...], num_classes: int, width: int, depth: int
) -> nn.Module:
    """Build a zoo model and load a safetensors state dict into it (strict), in eval mode.

    A missing, truncated or mismatched file is a ``ModelFileError`` naming the file and the
    architecture it was expected to fit.
    """
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    try:
        state = load_file(str(path))
    except Exception as exc:
        raise ModelFileError(
            f"{path}: not a readable safetensors file (truncated?): {exc}"
        ) from None
    model = build_model(arch, input_shape, num_classes, width, depth)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelFileError(
            f"{path}: does not match zoo arch {arch!r} width={width} depth={depth} "
            f"for {num_classes} classes ({first})"
        ) from None
    return model.eval()


def save_weights(model: nn.Module, path: Path) -> None:
    """The model's state dict as a safetensors file (reload with ``load_zoo_weights``)."""
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    atomic_save(path, lambda tmp: save_file(state, str(tmp)))


def save_exported(model: nn.Module, sample: np.ndarray, path: Path) -> None:
    """The whole model (any layer shapes, e.g. after structured pruning) as a
    ``torch.export`` program with a dynamic batch axis."""
    batch = torch.export.Dim("batch", min=1)
    x = torch.from_numpy(np.ascontiguousarray(sample, dtype=np.float32))
    program = torch.export.export(model.eval(), (x,), dynamic_shapes=({0: batch},))
    buffer = io.BytesIO()  # torch.export.save wants a .pt2 name or a buffer, not a temp name
    torch.export.save(program, buffer)
    atomic_write_bytes(path, buffer.getvalue())
