"""Model files: zoo weights as safetensors (or ``torch.save``'d state dicts), whole models as
``torch.export`` programs, and what a torch file holds.

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

# What a torch model file holds, by content (``torch_file_kind``), and what edgekd does with it.
TORCH_KINDS = {
    "torchscript": "a TorchScript model (torch.jit.save)",
    "exported": "a torch.export program (torch.export.save)",
    "pickle": "a torch.save'd object",
    "unknown": "not a TorchScript, torch.export or torch.save file",
}


def torch_file_kind(path: Path) -> str:
    """One of ``TORCH_KINDS``, from the file's layout (never by unpickling it).

    All three torch formats are zip archives under one top folder: TorchScript has ``code/``
    and ``constants.pkl``; ``torch.export`` has ``archive_format`` and ``models/``;
    ``torch.save`` has only ``data.pkl`` and ``data/`` (PyTorch serialization docs,
    ``torch/serialization.py``). A legacy ``torch.save`` file is a bare pickle (``0x80``).
    """
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            names = [n.split("/", 1)[-1] for n in z.namelist()]
    except Exception:  # BadZipFile, NotImplementedError (a mangled version field), ...
        with open(path, "rb") as f:
            return "pickle" if f.read(1) == b"\x80" else "unknown"
    if "constants.pkl" in names or any(n.startswith("code/") for n in names):
        return "torchscript"
    if "archive_format" in names or any(n.startswith("models/") for n in names):
        return "exported"
    return "pickle" if "data.pkl" in names else "unknown"


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict (name -> tensor) from a safetensors file or a ``torch.save``'d dict of
    tensors (read with ``torch.load(weights_only=True)``, which never runs code); anything
    else is a ``ModelFileError`` that says what the file is."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:
            raise ModelFileError(
                f"{path}: not a readable safetensors file (truncated?): {exc}"
            ) from None
    kind = torch_file_kind(path)
    if kind != "pickle":
        raise ModelFileError(f"{path}: {TORCH_KINDS[kind]}, not a state dict")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        if "weights_only" in str(exc) or "Unsupported global" in str(exc).replace("\n", " "):
            raise ModelFileError(
                f"{path}: a torch.save'd object that is not plain tensors (a whole nn.Module "
                "saved with torch.save(model)?); edgekd never unpickles code: save "
                "model.state_dict() instead"
            ) from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(
            f"{path}: a torch.save'd file that cannot be read (corrupt or truncated?): "
            f"{first[:200]}"
        ) from None
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return {str(k): v for k, v in obj.items()}
    keys = ", ".join(map(str, list(obj)[:6])) if isinstance(obj, dict) else type(obj).__name__
    raise ModelFileError(
        f"{path}: a torch.save'd {'dict' if isinstance(obj, dict) else 'object'} that is not "
        f"a state dict of tensors ({keys}); save model.state_dict() on its own"
    )


def describe_state_dict(path: Path) -> str:
    """``"a torch.save'd state dict (12 tensors)"`` for a state dict file; raises like
    ``read_state_dict`` for anything else."""
    state = read_state_dict(path)
    fmt = "safetensors" if Path(path).suffix.lower() == ".safetensors" else "torch.save'd"
    return f"a {fmt} state dict ({len(state)} tensors)"


def load_zoo_weights(
    path: Path, arch: str, input_shape: tuple[int, ...], num_classes: int, width: int, depth: int
) -> nn.Module:
    """A zoo model with the state dict in ``path`` (safetensors, or a ``torch.save``'d dict of
    tensors) loaded strictly, in eval mode (``edgekd.models.load.load_model``).

    A missing, truncated or mismatched file is a ``ModelFileError`` naming the file and the
    architecture it was expected to fit.
    """
    from edgekd.models.load import load_model
    from edgekd.models.spec import ModelSpec

    spec = ModelSpec("zoo", arch, tuple(input_shape), num_classes, width, depth)
    return load_model(path, spec)


def state_dict_mismatch(model: nn.Module, state: dict[str, torch.Tensor]) -> str:
    """Why ``state`` does not fit ``model`` (missing or unexpected names, the first shape
    that differs), or "" when it loads strictly."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    shapes = [
        f"{k} is {tuple(state[k].shape)} in the file, {tuple(v.shape)} in the model"
        for k, v in own.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing, e.g. {missing[0]}")
    if extra:
        parts.append(f"{len(extra)} unexpected, e.g. {extra[0]}")
    if shapes:
        parts.append(shapes[0])
    return "; ".join(parts)


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
