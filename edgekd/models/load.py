"""Models as files that travel between passes: a weights file plus a model spec.

A torch artifact is a safetensors state dict or a ``torch.export`` program (``.pt2``) with a
:class:`~edgekd.models.spec.ModelSpec` that says how to build the module (``MODEL_SOURCES``
in ``edgekd.models.sources``). ``load_model`` turns one back into a module: with a spec the
module has real layers (trainable, prunable, hookable), even when the weights in the file
have other shapes than the spec's builder makes (a structurally pruned model); without a
spec a ``.pt2`` program is run as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from edgekd.artifact import Artifact
from edgekd.errors import ModelFileError
from edgekd.models.spec import ModelSpec, build


def load_model(path: str | Path, spec: ModelSpec | None = None) -> nn.Module:
    """The module in ``path`` (eval mode), by what the file holds (not its suffix).

    A state dict (safetensors, or a ``torch.save``'d dict of tensors) needs a spec. A
    ``torch.export`` program with a spec is rebuilt with real layers; without one it runs as
    exported (:class:`Program`). TorchScript loads as a script module.
    """
    from edgekd.models.files import TORCH_KINDS, read_state_dict, torch_file_kind

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    kind = "pickle" if path.suffix.lower() == ".safetensors" else torch_file_kind(path)
    if kind == "torchscript":
        if spec is not None:  # a script has its own architecture; weights for one do not fit
            raise ModelFileError(f"{path}: {TORCH_KINDS[kind]}, not a state dict")
        return load_script(path)
    if kind == "exported" and spec is None:
        return exported_module(path)
    if kind == "unknown":
        raise ModelFileError(f"{path}: {TORCH_KINDS[kind]} (corrupt or truncated?)")
    if spec is None:
        raise ModelFileError(f"{path}: a state dict needs a model spec (architecture) to load")
    state = _program(path).state_dict if kind == "exported" else read_state_dict(path)
    model = build(spec)
    if spec.resized:
        resize_to(model, state)
    from edgekd.models.files import state_dict_mismatch

    why = state_dict_mismatch(model, state)
    if why:
        what = {"pickle": " (a torch.save'd state dict)", "exported": " (a torch.export program)"}
        note = "" if path.suffix.lower() == ".safetensors" else what[kind]
        raise ModelFileError(
            f"{path}{note}: does not match {spec.source} arch {spec.name!r} width={spec.width} "
            f"depth={spec.depth} for {spec.num_classes} classes ({why})"
        )
    model.load_state_dict(state)
    return model.eval()


def load_script(path: Path) -> Any:
    """A TorchScript module (eval mode)."""
    import torch

    try:
        script = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(
            f"{path}: not a readable TorchScript file (corrupt or truncated?): {first}"
        ) from None
    return script.eval()


def script_program(path: Path, input_shape: tuple[int, ...]) -> Program:
    """TorchScript as a ``torch.export`` program (``TS2EPConverter``): exporters take programs."""
    import torch
    from torch._export.converter import TS2EPConverter

    from edgekd.errors import StageError

    try:
        program = TS2EPConverter(load_script(path), (torch.zeros(1, *input_shape),)).convert()
    except Exception as exc:
        raise StageError(
            f"{path}: TorchScript could not be turned into a torch.export program ({exc}); "
            "save the model with torch.export.save (.pt2) instead"
        ) from None
    return Program(program.module(), _static_batch(program))


def program_input_shape(path: Path) -> tuple[int, ...] | None:
    """One sample's input shape as a ``.pt2`` program records it (None if it does not)."""
    program = _program(path)
    metas = [n.meta.get("val") for n in program.graph.nodes if n.op == "placeholder"]
    users = [m for m in metas if m is not None][-1:]
    return tuple(int(d) for d in users[0].shape[1:]) if users else None


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


def exported_module(path: Path) -> Program:
    """A ``.pt2`` program as a module that runs any batch size."""
    program = _program(path)
    return Program(program.module(), _static_batch(program))


def _static_batch(program: Any) -> int | None:
    """The batch size a program's graph is fixed to, or None when it is dynamic."""
    user_inputs = set(program.graph_signature.user_inputs)
    dims = [
        n.meta["val"].shape[0]
        for n in program.graph.nodes
        if n.op == "placeholder" and n.name in user_inputs and "val" in n.meta
    ]
    return dims[0] if dims and isinstance(dims[0], int) else None


class Program(nn.Module):
    """An exported program's module that exporters and parity checks can call ``eval()`` on
    (``ExportedProgram.module()`` refuses it: its graph is frozen), and that runs any batch
    size: a program fixed to batch B runs in chunks of B, the last one zero-padded."""

    def __init__(self, inner: nn.Module, static_batch: int | None = None) -> None:
        super().__init__()
        self.inner = inner
        self.static_batch = static_batch

    def forward(self, x: Any) -> Any:
        import torch

        step = self.static_batch
        if step is None or len(x) == step:
            return self.inner(x)
        outs = []
        for i in range(0, len(x), step):
            chunk = x[i : i + step]
            pad = step - len(chunk)
            if pad:
                chunk = torch.cat([chunk, chunk.new_zeros((pad, *chunk.shape[1:]))])
            outs.append(self.inner(chunk)[: step - pad])
        return torch.cat(outs)

    def train(self, mode: bool = True) -> Program:
        self.training = mode
        return self
