"""The recipe's ``teacher`` and ``student`` sections."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from edgekd.config import Section
from edgekd.train.config import TrainConfig


class StudentConfig(Section):
    """A zoo architecture (see ``edgekd.models.zoo.ZOO``) sized by width and depth."""

    arch: str = "cnn"
    width: int = Field(8, ge=1)
    depth: int = Field(2, ge=1)


class TeacherConfig(Section):
    """The teacher: trained by edgekd from the zoo (``train: true``) or loaded from ``path``.

    ``path`` may be a safetensors state dict (with ``arch``/``width``/``depth``), a TorchScript
    (``.pt``/``.pth``) or ``torch.export`` (``.pt2``) file, an ONNX file, or a scikit-learn
    estimator (``.joblib``, ``.skops``; a pickle needs ``trust: true``).
    """

    train: bool = True
    arch: str = "cnn"
    width: int = Field(32, ge=1)
    depth: int = Field(3, ge=1)
    path: Path | None = None
    trust: bool = Field(False, description="allow loading pickles, which can run code")
    input: Literal["raw", "normalized"] = Field(
        "raw", description="a loaded teacher's inputs: the raw features or edgekd's normalized ones"
    )
    fit: TrainConfig = TrainConfig(epochs=30, lr=3e-3)
