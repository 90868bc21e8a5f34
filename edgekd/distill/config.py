"""The recipe's training and ``distill`` sections.

``distill.method`` selects the distillation method; each method's parameters live in a
subsection of the same name (``distill.fitnets``, ``distill.rkd``...). ``kd`` (the default) is
plain response-based distillation and ignores the subsections.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from edgekd.config import Section
from edgekd.distill.divergences import Divergence
from edgekd.distill.lm_config import LMDistillConfig
from edgekd.train.config import TrainConfig

Method = Literal[
    "kd", "fitnets", "at", "rkd", "sp", "multi_teacher", "born_again", "assistant", "data_free"
]
FEATURE_METHODS = ("fitnets", "at", "rkd", "sp")


class HintPair(Section):
    """One hint: a student module path and the teacher module path it should imitate."""

    student: str
    teacher: str


class FitNetsConfig(Section):
    """FitNets (Romero et al. 2015): loss += weight * mean ||adapter(F_s) - F_t||^2 per hint."""

    hints: list[HintPair] = [HintPair(student="features.block1", teacher="features.block2")]
    weight: float = Field(1.0, ge=0)


class AttentionConfig(Section):
    """Attention transfer (Zagoruyko & Komodakis 2017) on pairs of conv layers."""

    hints: list[HintPair] = [
        HintPair(student="features.block0", teacher="features.block0"),
        HintPair(student="features.block1", teacher="features.block2"),
    ]
    weight: float = Field(
        1.0, ge=0, description="beta; ~ the paper's 1e3 on 32x32 maps (see AttentionTransferLoss)"
    )
    p: float = Field(2.0, gt=0)


class RKDConfig(Section):
    """Relational KD (Park et al. 2019) on embeddings (default: the pooled features)."""

    student_layer: str = "flatten"
    teacher_layer: str = "flatten"
    distance_weight: float = Field(25.0, ge=0)
    angle_weight: float = Field(50.0, ge=0)


class SPConfig(Section):
    """Similarity-preserving KD (Tung & Mori 2019) on pairs of layers."""

    hints: list[HintPair] = [HintPair(student="features", teacher="features")]
    weight: float = Field(
        300.0, ge=0, description="gamma; the paper's 3e3 (batch 128) over-regularizes on digits"
    )


class MultiTeacherConfig(Section):
    """How the soft targets of several teachers are combined.

    The teachers are the recipe's ``teacher`` section followed by each entry of the top-level
    ``teachers`` list. ``fixed`` weighting uses ``weights`` (one per teacher, in that order;
    default equal); ``confidence`` weights each teacher per sample by its max softmax
    probability. The weight count is checked against the teachers in ``Recipe``.
    """

    weighting: Literal["fixed", "confidence"] = "fixed"
    weights: list[float] | None = None

    @model_validator(mode="after")
    def _weights_valid(self) -> MultiTeacherConfig:
        if self.weights is not None and any(w < 0 for w in self.weights):
            raise ValueError("weights must be >= 0")
        if self.weights is not None and sum(self.weights) <= 0:
            raise ValueError("weights must not all be zero")
        return self


class BornAgainConfig(Section):
    """Born-again networks (Furlanello et al. 2018): generation k teaches generation k + 1."""

    generations: int = Field(2, ge=1, description="student generations after the first")


class AssistantConfig(Section):
    """Teacher assistant (Mirzadeh et al. 2020): teacher -> assistant -> student."""

    arch: str = "cnn"
    width: int = Field(16, ge=1)
    depth: int = Field(2, ge=1)


class DataFreeConfig(Section):
    """DeepInversion (Yin et al. 2020): synthesize inputs from the teacher, then distill."""

    samples: int = Field(1024, ge=2)
    batch_size: int = Field(128, ge=2)
    steps: int = Field(200, ge=1)
    lr: float = Field(0.1, gt=0)
    bn_weight: float = Field(1.0, ge=0, description="weight of the BatchNorm-statistics term")
    tv_weight: float = Field(1e-4, ge=0, description="total-variation prior (images)")
    l2_weight: float = Field(1e-5, ge=0)
    without_bn: Literal["error", "targets_only"] = Field(
        "error",
        description="a teacher without BatchNorm: fail, or match class targets plus priors only",
    )


class DistillConfig(TrainConfig):
    """Distillation: the method, its parameters, plus the from-scratch baseline.

    Plain KD (Hinton et al. 2015):
    loss = alpha * CE(student, labels) + (1 - alpha) * T^2 * D(teacher/T, student/T).
    Every other method adds its own term to this loss or changes where the soft targets come
    from; see ``docs/kd_methods.md``.
    """

    epochs: int = Field(150, ge=1, description="KD pays off with a long budget (Beyer et al. 2022)")
    temperature: float = Field(4.0, gt=0)
    alpha: float = Field(0.1, ge=0, le=1)
    divergence: Divergence = "kl"
    baseline: bool = True
    method: Method = "kd"
    fitnets: FitNetsConfig = FitNetsConfig()
    at: AttentionConfig = AttentionConfig()
    rkd: RKDConfig = RKDConfig()
    sp: SPConfig = SPConfig()
    multi_teacher: MultiTeacherConfig = MultiTeacherConfig()
    born_again: BornAgainConfig = BornAgainConfig()
    assistant: AssistantConfig = AssistantConfig()
    data_free: DataFreeConfig = DataFreeConfig()
    lm: LMDistillConfig = Field(
        default_factory=LMDistillConfig,
        description="task: causal_lm: how the language-model student learns (the rest of this "
        "section is for classifiers)",
    )

    def train_config(self) -> TrainConfig:
        return TrainConfig(**{k: getattr(self, k) for k in TrainConfig.model_fields})
