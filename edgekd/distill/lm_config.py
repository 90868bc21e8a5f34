"""``distill.lm``: how a causal-LM student learns from its teacher (``task: causal_lm``).

``method: sft`` is sequence-level KD (Kim & Rush 2016): fine-tuning on the teacher's answers,
which works across tokenizers. ``method: kd`` adds a token-level divergence
(``divergence``, ``beta``) against the teacher's next-token distributions:
``loss = sft_weight * CE + kd_weight * D`` (DistillKit's weighted list of terms), with the
teacher's top-k + tail from the dataset or a local teacher (``teacher_logprobs``), or its
full logits each step (``top_k: null``, a local teacher that fits). ``lmbda`` is GKD's
share of on-policy batches (Agarwal et al. 2024): the student writes the continuation, the
local teacher scores it. ``rationale`` turns on distilling step-by-step (Hsieh et al. 2023).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from edgekd.config import Section
from edgekd.distill.divergences import Divergence


class RationaleConfig(Section):
    """Distilling step-by-step (Hsieh et al. 2023): a teacher answer that carries a rationale
    (an assistant message's ``rationale`` field, or the text before ``separator``) gives two
    tasks, each marked by a prefix on the prompt; ``loss = alpha * L_answer + (1 - alpha) *
    L_rationale``. At inference the student gets ``answer_prefix`` and writes only the answer.
    """

    alpha: float = Field(0.5, ge=0, le=1, description="weight of the answer task")
    separator: str | None = Field(
        None, description="text between the rationale and the answer in the teacher's answer"
    )
    answer_prefix: str = "[label] "
    rationale_prefix: str = "[rationale] "


class LMDistillConfig(Section):
    """Training a causal-LM student (module docstring)."""

    method: Literal["sft", "kd"] = "kd"
    divergence: Divergence = "kl"
    beta: float = Field(0.5, ge=0, le=1, description="generalized JSD interpolation (GKD)")
    sft_weight: float = Field(1.0, ge=0, description="weight of CE on the teacher's tokens")
    kd_weight: float = Field(1.0, ge=0, description="weight of the token-level divergence")
    top_k: int | None = Field(
        20, ge=1, description="teacher alternatives kept per position; null: full logits"
    )
    teacher_logprobs: Literal["auto", "dataset", "teacher"] = Field(
        "auto",
        description="token-level targets from the dataset's top_logprobs or the local teacher; "
        "auto: the dataset's when every record has them, else the teacher",
    )
    lmbda: float = Field(0.0, ge=0, le=1, description="share of on-policy batches (GKD)")
    on_policy_temperature: float = Field(1.0, gt=0)
    max_new_tokens: int = Field(32, ge=1, description="on-policy continuation length")
    max_length: int = Field(256, ge=2, description="context length of a training sequence")
    steps: int = Field(200, ge=0, description="optimizer steps; 0: the student as built")
    batch_size: int = Field(8, ge=1)
    lr: float = Field(1e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    warmup_steps: int = Field(10, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    eval_every: int = Field(50, ge=1, description="steps between validation passes")
    seed: int = 0
    rationale: RationaleConfig | None = None
    strategy: Literal["ddp", "fsdp"] = Field(
        "ddp",
        description="on several processes (--nproc, torchrun, accelerate launch): ddp keeps "
        "the whole student on every rank; fsdp shards its weights, gradients and optimizer "
        "state over the ranks (torch FSDP2) for students that do not fit one device",
    )

    @model_validator(mode="after")
    def _consistent(self) -> LMDistillConfig:
        if self.method == "sft" and self.lmbda > 0:
            raise ValueError(
                "lmbda: on-policy batches are scored by a token-level divergence; "
                "use method: kd (or lmbda: 0)"
            )
        if self.strategy == "fsdp" and self.lmbda > 0:
            raise ValueError(
                "strategy: fsdp shards the student, which generates the on-policy batches "
                "(lmbda > 0); use strategy: ddp (or lmbda: 0)"
            )
        if self.method == "kd" and self.kd_weight == 0:
            raise ValueError("kd_weight: 0 leaves no token-level term; use method: sft")
        if self.rationale is not None and self.method == "kd":
            raise ValueError(
                "rationale: distilling step-by-step trains on the teacher's text (method: sft); "
                "its rationale and answer tasks have no token-level targets"
            )
        return self
