"""The recipe's ``data`` section."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from edgekd.config import Section
from edgekd.data.sources import DataSource


class DataConfig(Section):
    """Where the data comes from and how it is split.

    ``source`` is a built-in scikit-learn dataset name, ``npz`` (arrays ``x`` and optional
    ``y``), ``csv`` (feature columns plus ``label_column``) or ``completions`` (a dataset
    written by ``edgekd completions``, for ``task: causal_lm``; its own splits are used).
    Splits are stratified and deterministic given ``seed``; normalization statistics come from
    the train split only.
    """

    source: DataSource = "digits"
    path: Path | None = None
    label_column: str = "label"
    test_fraction: float = Field(0.2, gt=0, lt=1)
    val_fraction: float = Field(0.15, gt=0, lt=1)
    calib_samples: int = Field(128, ge=1, description="calibration split size, drawn from train")
    normalize: Literal["standard", "none"] = "standard"
    unlabeled: bool = Field(False, description="ignore training labels (alpha is forced to 0)")
    seed: int = 0

    @model_validator(mode="after")
    def _fractions_leave_a_train_split(self) -> DataConfig:
        if self.test_fraction + self.val_fraction >= 1:
            raise ValueError(
                f"test_fraction ({self.test_fraction:g}) + val_fraction ({self.val_fraction:g}) "
                "must be below 1 to leave samples for training"
            )
        return self
