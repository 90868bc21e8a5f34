"""The recipe's ``prune`` section (structured, 25% of channels, by default)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from edgekd.config import Section
from edgekd.train.config import TrainConfig


def _check_fraction(value: float) -> float:
    if not 0 <= value < 1:
        raise ValueError(f"must be in [0, 1) (a share of weights or channels), got {value}")
    return value


class PruneConfig(Section):
    """Magnitude pruning, then fine-tuning under the distillation loss.

    ``unstructured`` zeroes individual weights (smaller gzip'd file, same dense compute);
    ``structured`` removes whole channels/neurons with torch-pruning's DepGraph (Fang et al.
    2023), so params and MACs really shrink. ``sparsity`` is the share of weights
    (unstructured) or of channels per layer (structured) removed.
    """

    method: Literal["none", "unstructured", "structured"] = "structured"
    sparsity: float = Field(0.25, description="target share removed, in [0, 1)")
    scope: Literal["global", "layer"] = Field(
        "global", description="rank weights/channels across all layers or within each layer"
    )
    layers: dict[str, float] = Field(
        default_factory=dict, description="per-layer sparsity overrides by module path"
    )
    importance: Literal["l1", "l2", "taylor"] = "l1"
    steps: int = Field(4, ge=1, description="pruning steps on the polynomial schedule")
    initial_sparsity: float = Field(0.0, description="s_i of the Zhu & Gupta schedule")
    fine_tune: TrainConfig = TrainConfig(epochs=40, lr=1e-3)

    @field_validator("sparsity", "initial_sparsity")
    @classmethod
    def _fraction(cls, value: float) -> float:
        return _check_fraction(value)

    @field_validator("layers")
    @classmethod
    def _layer_fractions(cls, value: dict[str, float]) -> dict[str, float]:
        for name, ratio in value.items():
            if not 0 <= ratio < 1:
                raise ValueError(f"layer {name!r}: must be in [0, 1), got {ratio}")
        return value
