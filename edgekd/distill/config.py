"""The recipe's training and ``distill`` sections."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgekd.recipe.base import Section


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


class DistillConfig(TrainConfig):
    """Response-based distillation (Hinton et al. 2015) plus the from-scratch baseline.

    loss = alpha * CE(student, labels) + (1 - alpha) * T^2 * D(teacher/T, student/T)
    """

    epochs: int = Field(150, ge=1, description="KD pays off with a long budget (Beyer et al. 2022)")
    temperature: float = Field(4.0, gt=0)
    alpha: float = Field(0.1, ge=0, le=1)
    divergence: Literal["kl", "reverse_kl", "jsd"] = "kl"
    baseline: bool = True
