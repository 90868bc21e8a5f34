"""Make the model a recipe section names: its spec, the architecture, then its weights.

Weights come from, in this order: the teacher (``student.init_from_teacher``), a ``hf:DIR``
directory's own files, the library's local cache (``pretrained: true``), a ``weights:`` file.
What was loaded and what was repaired (a classifier head re-initialized for the data's
classes, a first convolution adapted to its channels) is reported in ``Created.info``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekd.errors import RecipeError, UsageError
from edgekd.models.sources import split_model
from edgekd.models.spec import ModelSpec, build

if TYPE_CHECKING:
    from torch import nn

    from edgekd.models.config import StudentConfig, TeacherConfig


@dataclass
class Created:
    """A fresh model, its spec, and what its weights are (``info``)."""

    model: nn.Module
    spec: ModelSpec
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def trained_head(self) -> bool:
        """Whether the classifier came from a file for exactly these classes."""
        return bool(self.info.get("weights_from")) and not self.info.get("head_reset")


def model_string(cfg: StudentConfig | TeacherConfig) -> str:
    return cfg.model or f"zoo:{cfg.arch}"


def model_spec(
    cfg: StudentConfig | TeacherConfig,
    where: str,
    input_shape: tuple[int, ...],
    num_classes: int,
) -> ModelSpec:
    """The spec of the section's model for data of ``input_shape`` and ``num_classes``."""
    source, name = split_model(model_string(cfg))
    options: dict[str, Any] = {}
    if source == "hf":
        from edgekd.models.hf import check_dir, spec_options

        try:
            options = spec_options(check_dir(name), num_classes, input_shape)
        except UsageError as exc:
            raise type(exc)(f"{where}.model: {exc}") from None
    elif source == "module":
        options = {"trust_code": cfg.trust_code, "where": where}
    return ModelSpec(
        source=source,
        name=name,
        input_shape=tuple(int(d) for d in input_shape),
        num_classes=int(num_classes),
        width=cfg.width if source == "zoo" else 0,
        depth=cfg.depth if source == "zoo" else 0,
        options=options,
    )


def build_checked(spec: ModelSpec, where: str) -> nn.Module:
    """``build(spec)`` with bad-input errors prefixed by the recipe field."""
    try:
        return build(spec)
    except UsageError as exc:
        msg = str(exc)
        raise type(exc)(msg if msg.startswith(f"{where}.") else f"{where}.model: {msg}") from None


def create_model(
    cfg: StudentConfig | TeacherConfig,
    where: str,
    input_shape: tuple[int, ...],
    num_classes: int,
    teacher: Any = None,
) -> Created:
    """Build the section's model and load its initial weights (see the module docstring).

    ``teacher`` (a loaded ``Teacher``) is needed for ``student.init_from_teacher``.
    """
    init = getattr(cfg, "init_from_teacher", None)
    if init is not None:
        from edgekd.models.layer_subset import student_from_teacher

        return Created(*student_from_teacher(cfg, teacher, init.layers, where))
    spec = model_spec(cfg, where, input_shape, num_classes)
    info: dict[str, Any] = {"model": spec.label}
    if spec.source == "hf":
        from edgekd.models.hf import has_weights, load_pretrained

        if has_weights(Path(spec.name)) and cfg.weights is None:
            model, repaired = load_pretrained(spec)
            info.update(weights_from=f"hf:{spec.name}", **repaired)
        else:
            model = build_checked(spec, where)
    else:
        model = build_checked(spec, where)
    if cfg.pretrained:
        from edgekd.models.vision import pretrained_state
        from edgekd.models.weights import load_state

        try:
            state = pretrained_state(spec)
        except UsageError as exc:
            raise type(exc)(f"{where}.{exc}") from None
        repaired = load_state(model, state, spec.num_classes, f"{where}.pretrained ({spec.label})")
        info.update(weights_from=f"{spec.source} cache", **repaired)
    if cfg.weights is not None:
        from edgekd.models.weights import load_state, read_state_dict

        state = read_state_dict(cfg.weights, f"{where}.weights")
        target = getattr(model, "model", model) if spec.source == "hf" else model
        repaired = load_state(target, state, spec.num_classes, f"{where}.weights: {cfg.weights}")
        info.update(weights_from=str(cfg.weights), **repaired)
    check_runs(model, spec, where)
    return Created(model, spec, info)


def check_runs(model: nn.Module, spec: ModelSpec, where: str) -> None:
    """One forward pass on a zero batch of the data's shape, so a model that cannot take
    these inputs (too small an image for its strides, wrong rank) is a clear bad-input error
    naming the field, not a crash in training; the output must be (2, num_classes)."""
    import torch

    if spec.source == "hf" and spec.options.get("task") == "text":
        x = torch.zeros(2, 8, dtype=torch.long)
    else:
        x = torch.zeros(2, *spec.input_shape)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RecipeError(
            f"{where}.model: {spec.label} does not run on inputs of shape "
            f"{tuple(spec.input_shape)} ({type(exc).__name__}: {first})"
        ) from None
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, spec.num_classes):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UsageError(
            f"{where}.model: {spec.label} returns {got} for a batch of 2; expected logits of "
            f"shape (2, {spec.num_classes})"
        )
