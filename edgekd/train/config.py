"""The training config shared by teacher training, distillation, fine-tuning and QAT."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgekd.config import Section


class TrainConfig(Section):
    """Optimizer, schedule, epochs, batch size, early stopping and seed for one training run."""

    epochs: int = Field(40, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(5e-3, gt=0)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    schedule: Literal["cosine", "step", "none"] = "cosine"
    patience: int | None = Field(None, ge=1, description="early stopping on val accuracy")
    seed: int = 0
