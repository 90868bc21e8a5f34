"""The recipe's ``data`` section."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from edgekd.config import Section
from edgekd.data.sources import BUILTIN, DataSource

BUILTIN_DATASETS = BUILTIN


class ImageConfig(Section):
    """Image preprocessing (``imagefolder`` and image ``hf`` data).

    Evaluation: resize the shorter side to ``resize`` (default ``size * 256 / 224``, the
    ImageNet convention), center-crop ``size``; training: random resized crop (area share
    ``scale``) and horizontal ``flip`` when ``augment``. ``mean``/``std`` per channel default
    to the train split's statistics (``data.normalize: none`` keeps pixels in [0, 1]).
    ``teacher_size``: the teacher sees the same images at another size (cross-resolution).
    """

    size: int = Field(224, ge=8)
    resize: int | None = Field(None, ge=8)
    channels: Literal[1, 3] = 3
    mean: list[float] | None = None
    std: list[float] | None = None
    augment: bool = True
    scale: tuple[float, float] = (0.08, 1.0)
    flip: bool = True
    teacher_size: int | None = Field(None, ge=8)
    check: bool = Field(True, description="decode every image once before any training")

    @model_validator(mode="after")
    def _consistent(self) -> ImageConfig:
        if (self.mean is None) != (self.std is None):
            raise ValueError("give both mean and std, or neither (then the train split's)")
        for name, v in (("mean", self.mean), ("std", self.std)):
            if v is not None and len(v) != self.channels:
                raise ValueError(f"{name}: {len(v)} values for {self.channels} channels")
        if self.std is not None and min(self.std) <= 0:
            raise ValueError("std: every value must be above 0")
        if not 0 < self.scale[0] <= self.scale[1] <= 1:
            raise ValueError(f"scale: expected 0 < low <= high <= 1, got {list(self.scale)}")
        if self.resize is not None and self.resize < self.size:
            raise ValueError(f"resize ({self.resize}) must be at least size ({self.size})")
        return self


class TextConfig(Section):
    """Text preprocessing (``text`` and text ``hf`` data): a Hugging Face tokenizer, padded
    and truncated to ``max_length`` tokens.

    ``tokenizer`` (the student's, shipped with it) defaults to the student's ``hf:DIR``,
    else the teacher's; ``teacher_tokenizer`` defaults to the teacher's ``hf:DIR``, else
    ``tokenizer``. Logit distillation needs both to split the training texts into the same
    tokens (a student vocabulary may be a subset of the teacher's).
    """

    max_length: int = Field(128, ge=2)
    tokenizer: Path | None = None
    teacher_tokenizer: Path | None = None


class DataConfig(Section):
    """Where the data comes from and how it is split.

    ``source`` is a built-in scikit-learn dataset name, ``npz`` (arrays ``x`` and optional
    ``y``), ``csv`` (feature columns plus ``label_column``), ``imagefolder`` (one subfolder of
    images per class), ``text`` (JSONL, CSV or Parquet with ``text_column`` and
    ``label_column``), ``hf`` (a ``datasets`` directory from ``save_to_disk``, or
    Parquet/JSONL files named by split) or ``completions`` (a dataset written by ``edgekd
    completions``, for ``task: causal_lm``; its own splits are used). Splits are stratified
    and deterministic given ``seed``; normalization statistics come from the train split only.
    """

    source: DataSource = "digits"
    path: Path | None = None
    label_column: str = "label"
    text_column: str = "text"
    test_fraction: float = Field(0.2, gt=0, lt=1)
    val_fraction: float = Field(0.15, gt=0, lt=1)
    calib_samples: int = Field(128, ge=1, description="calibration split size, drawn from train")
    normalize: Literal["standard", "none"] = "standard"
    unlabeled: bool = Field(False, description="ignore training labels (alpha is forced to 0)")
    seed: int = 0
    image: ImageConfig = ImageConfig()
    text: TextConfig = TextConfig()
    workers: int = Field(0, ge=0, description="DataLoader worker processes for training")

    @model_validator(mode="after")
    def _fractions_leave_a_train_split(self) -> DataConfig:
        if self.test_fraction + self.val_fraction >= 1:
            raise ValueError(
                f"test_fraction ({self.test_fraction:g}) + val_fraction ({self.val_fraction:g}) "
                "must be below 1 to leave samples for training"
            )
        return self
