"""A model spec: everything needed to rebuild a model's architecture, nothing about weights.

Models travel between passes as files (a weights file plus a spec); ``build(spec)`` makes a
fresh module of that architecture from its source in ``MODEL_SOURCES`` and the weights file
is loaded into it. ``options`` carries what a source needs beyond a name (a Hugging Face
config override such as ``num_hidden_layers``; ``trust_code`` for a user's module).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    """How to build a model: its source (a key of ``MODEL_SOURCES``), name and size, and the
    data it fits. ``resized``: the weights may have other layer widths than the builder's
    (structured pruning keeps names and changes shapes)."""

    source: str
    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    width: int = 0
    depth: int = 0
    resized: bool = False
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``source:name``, as the recipe writes it."""
        return f"{self.source}:{self.name}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        return cls(**{**d, "input_shape": tuple(d["input_shape"])})


def build(spec: ModelSpec) -> nn.Module:
    """A fresh module (random weights) of ``spec``'s architecture, from its source."""
    from edgekd.errors import ModelFileError
    from edgekd.models.sources import MODEL_SOURCES

    if spec.source not in MODEL_SOURCES:
        raise ModelFileError(
            f"unknown model source {spec.source!r}; known: {', '.join(MODEL_SOURCES)}"
        )
    return MODEL_SOURCES[spec.source](spec)
