"""Models as files that travel between passes: a weights file plus a model spec.

A torch artifact is a safetensors state dict or a ``torch.export`` program (``.pt2``) with a
:class:`ModelSpec` that says how to build the module (``MODEL_SOURCES`` in
``edgekd.models.sources``). ``load_model`` turns one back into a module: with a spec the
module has real layers (trainable, prunable, hookable), even when the weights in the file
have other shapes than the spec's builder makes (a structurally pruned model); without a
spec a ``.pt2`` program is run as it is.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torch import nn

from edgekd.artifact import Artifact
from edgekd.errors import ModelFileError


@dataclass(frozen=True)
class ModelSpec:
    """How to build a model: its source (a key of ``MODEL_SOURCES``), name and size, and the
    data it fits. ``resized``: the weights may have other layer widths than the builder's
    (structured pruning keeps names and changes shapes)."""

    source: str
    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    width: int
    depth: int
    resized: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        return cls(**{**d, "input_shape": tuple(d["input_shape"])})


def build(spec: ModelSpec) -> nn.Module:
    """A fresh module for ``spec`` from its source."""
    from edgekd.models.sources import MODEL_SOURCES

    if spec.source not in MODEL_SOURCES:
        raise ModelFileError(
            f"unknown model source {spec.source!r}; known: {', '.join(MODEL_SOURCES)}"
        )
    return MODEL_SOURCES[spec.source](spec)


def load_model(path: str | Path, spec: ModelSpec | None = None) -> nn.Module:
    """The module in ``path`` (eval mode): ``.safetensors`` needs a spec; ``.pt2`` with a spec
    is rebuilt with real layers, without one it runs as the exported program."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    suffix = path.suffix.lower()
    if suffix == ".pt2" and spec is None:
        return exported_module(path)
    if spec is None:
        raise ModelFileError(f"{path}: a state dict needs a model spec (architecture) to load")
    if suffix == ".pt2":
        state = _program(path).state_dict
    elif suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as exc:
            raise ModelFileError(f"{path}: not a readable safetensors file: {exc}") from None
    else:
        raise ModelFileError(f"{path}: expected a .safetensors or .pt2 model file")
    model = build(spec)
    if spec.resized:
        resize_to(model, state)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelFileError(
            f"{path}: does not match {spec.source}:{spec.name} ({first})"
        ) from None
    return model.eval()


def load_artifact(art: Artifact, run_dir: Path) -> nn.Module:
    """The module of a torch artifact in a run directory (its spec travels in ``extra``)."""
    spec = art.extra.get("model")
    return load_model(art.absolute(run_dir), None if spec is None else ModelSpec.from_dict(spec))


def resize_to(model: nn.Module, state: dict[str, Any]) -> None:
    """Replace each Conv2d, Linear and BatchNorm whose weights in ``state`` have other shapes
    with a layer of those shapes (same name, same hyper-parameters)."""
    for name, module in list(model.named_modules()):
        weight = state.get(f"{name}.weight")
        if weight is None or tuple(weight.shape) == tuple(module.weight.shape):
            continue
        shape = tuple(weight.shape)
        new: nn.Module
        if isinstance(module, nn.Conv2d):
            groups = module.groups if module.groups == 1 else shape[0]  # depthwise stays so
            new = nn.Conv2d(
                shape[1] * groups, shape[0], module.kernel_size,  # type: ignore[arg-type]
                module.stride, module.padding, module.dilation,  # type: ignore[arg-type]
                groups, module.bias is not None, module.padding_mode,
            )  # fmt: skip
        elif isinstance(module, nn.Linear):
            new = nn.Linear(shape[1], shape[0], module.bias is not None)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            new = type(module)(shape[0], module.eps, module.momentum, module.affine)
        else:
            continue
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, new)


def _program(path: Path) -> Any:
    import torch

    try:
        return torch.export.load(str(path))
    except Exception as exc:
        raise ModelFileError(f"{path}: not a readable torch.export file ({exc})") from None


def exported_module(path: Path) -> nn.Module:
    """A ``.pt2`` program behind an ``nn.Module`` whose ``eval()``/``train()`` only set the
    flag (``ExportedProgram.module()`` refuses them; its graph is already frozen)."""
    return Program(_program(path).module())


class Program(nn.Module):
    """An exported program's module that exporters and parity checks can call ``eval()`` on."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: Any) -> Any:
        return self.inner(x)

    def train(self, mode: bool = True) -> Program:
        self.training = mode
        return self
