"""The recipe's ``teacher`` and ``student`` sections.

Both name their model as ``model: SOURCE:NAME`` (the sources are the keys of
``edgekd.models.sources.MODEL_SOURCES``: ``zoo:cnn``, ``torchvision:resnet18``,
``timm:mobilenetv3_small_050``, ``hf:DIR``, ``module:FILE.py:FUNC``); without ``model`` the
zoo's ``arch`` (with ``width``/``depth``) is used, as before. Weights come only from local
files: ``weights: PATH`` or, for torchvision and timm, ``pretrained: true`` (the library's
own local cache).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from edgekd.config import Section
from edgekd.train.config import TrainConfig

PRETRAINED_SOURCES = ("torchvision", "timm")


def check_model_fields(
    model: str | None, weights: Path | None, pretrained: bool, trust_code: bool
) -> None:
    """The checks both sections share; a ``ValueError`` names the field (pydantic adds the
    section's path)."""
    from edgekd.errors import RecipeError
    from edgekd.models.sources import split_model

    if model is None:
        if pretrained:
            raise ValueError("pretrained: the zoo has no pretrained weights; use weights: PATH")
        return
    try:
        source, name = split_model(model)
    except RecipeError as exc:
        raise ValueError(f"model: {exc}") from None
    if source == "module" and not trust_code:
        file = name.rpartition(":")[0]
        raise ValueError(
            f"model: module:{name} imports and runs the Python code in {file}; "
            "set trust_code: true in this section if you trust that file"
        )
    if pretrained and source not in PRETRAINED_SOURCES:
        raise ValueError(
            f"pretrained: only {' and '.join(PRETRAINED_SOURCES)} models have library weights "
            f"(got {source}); use weights: PATH"
            + (" (hf:DIR loads the directory's own weights)" if source == "hf" else "")
        )
    if pretrained and weights is not None:
        raise ValueError("give either weights: PATH or pretrained: true, not both")


class InitFromTeacher(Section):
    """DistilBERT-style initialization (Sanh et al. 2019): the student is the teacher's
    architecture with only the listed transformer layers, copied from the teacher with its
    embeddings and head (DistilBERT took every second layer: ``[0, 2, 4, 6, 8, 10]``)."""

    layers: list[int] = Field(min_length=1)


class StudentConfig(Section):
    """The student: ``model`` (``SOURCE:NAME``), or a zoo ``arch`` sized by width and depth."""

    model: str | None = Field(None, description="SOURCE:NAME; default zoo:<arch>")
    arch: str = "cnn"
    width: int = Field(16, ge=1)
    depth: int = Field(2, ge=1)
    weights: Path | None = Field(None, description="initial weights (safetensors or .pth)")
    pretrained: bool = Field(False, description="torchvision/timm weights from the local cache")
    trust_code: bool = Field(False, description="allow module: to import a Python file")
    init_from_teacher: InitFromTeacher | None = None
    trim_vocab: bool = Field(
        False,
        description="task: causal_lm: keep only the tokens the training data uses (plus "
        "specials); the map is saved as vocab_map.json beside the student",
    )

    @model_validator(mode="after")
    def _model_fields(self) -> StudentConfig:
        check_model_fields(self.model, self.weights, self.pretrained, self.trust_code)
        if self.init_from_teacher is not None and (self.weights or self.pretrained):
            raise ValueError("init_from_teacher takes the weights from the teacher; drop weights")
        return self


class TeacherConfig(Section):
    """The teacher: a ``model`` (``SOURCE:NAME``) built, loaded and/or trained here, or a
    whole file at ``path``.

    ``path`` may be a safetensors state dict (with ``arch``/``width``/``depth``), a TorchScript
    (``.pt``/``.pth``) or ``torch.export`` (``.pt2``) file, an ONNX file, or a scikit-learn
    estimator (``.joblib``, ``.skops``; a pickle needs ``trust: true``).

    ``train``: true trains (fine-tunes) the teacher here, cached by model, weights and data;
    false uses it as loaded; unset trains only when the model has no trained classifier for
    the data's classes (no weights, or a head re-initialized for another class count).
    """

    train: bool | None = None
    model: str | None = Field(None, description="SOURCE:NAME; default zoo:<arch>")
    arch: str = "cnn"
    width: int = Field(32, ge=1)
    depth: int = Field(4, ge=1)
    weights: Path | None = Field(None, description="weights (safetensors or .pth)")
    pretrained: bool = Field(False, description="torchvision/timm weights from the local cache")
    trust_code: bool = Field(False, description="allow module: to import a Python file")
    path: Path | None = None
    trust: bool = Field(False, description="allow loading pickles, which can run code")
    input: Literal["raw", "normalized"] = Field(
        "raw", description="a loaded teacher's inputs: the raw features or edgekd's normalized ones"
    )
    fit: TrainConfig = TrainConfig(epochs=30, lr=3e-3)
    outputs_top_k: int | None = Field(
        None,
        ge=1,
        description="cache only the k largest teacher logits per row plus the tail mass "
        "(for large class counts); unset keeps every logit",
    )

    @model_validator(mode="after")
    def _model_fields(self) -> TeacherConfig:
        check_model_fields(self.model, self.weights, self.pretrained, self.trust_code)
        if self.path is not None and (self.model is not None or self.weights is not None):
            raise ValueError(
                "path loads a whole teacher file; model/weights name an architecture and its "
                "weights: give one or the other"
            )
        return self
