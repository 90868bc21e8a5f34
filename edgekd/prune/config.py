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
    steps: int = Field(
        1, ge=1, description="pruning steps on the polynomial schedule (Zhu & Gupta 2017)"
    )
    initial_sparsity: float = Field(0.0, description="s_i of the Zhu & Gupta schedule")
    # Measured on the digits students (benchmarks/compress_digits.py, README "Prune and
    # quantize"): 8 epochs at lr 1e-3 left a 50%-channel-pruned student at 61% val (dense 98.5%);
    # pruning removes features the network must re-learn, so fine-tuning needs the training lr.
    fine_tune: TrainConfig = TrainConfig(epochs=40, lr=5e-3)
    max_accuracy_drop: float = Field(
        1.0,
        ge=0,
        description="points of val accuracy pruning may cost; a larger loss is warned about "
        "(in the output and the report), as the quantize guard's max_accuracy_drop",
    )

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
