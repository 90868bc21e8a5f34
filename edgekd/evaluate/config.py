"""The recipe's ``evaluate`` section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from edgekd.config import Section
from edgekd.evaluate.metrics import METRICS, Metric


class LMEvalConfig(Section):
    """``task: causal_lm``: the student against its teacher on the dataset's held-out split:
    teacher-forced KL and top-1 agreement on the teacher's answers, and ROUGE-L of greedy
    answers (``edgekd.evaluate.lm_stage``)."""

    split: Literal["test", "val"] = "test"
    max_new_tokens: int = Field(64, ge=1, description="length of each greedy answer")
    prompts: int | None = Field(
        None, ge=1, description="greedy answers for at most this many prompts (null: all)"
    )


class EvaluateConfig(Section):
    """Which metrics to compute (``METRICS``) on which splits; every artifact is run by the
    runtime that ships it. Metrics on ``test`` are named as they are (``accuracy``); on
    ``val`` they are prefixed (``val_accuracy``)."""

    metrics: list[Metric] = Field(default_factory=lambda: list(METRICS))
    splits: list[Literal["test", "val"]] = ["test"]
    batch_size: int = Field(256, ge=1, description="rows per inference call")
    lm: LMEvalConfig = LMEvalConfig()

    @field_validator("metrics", "splits")
    @classmethod
    def _not_empty(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("must name at least one")
        if len(set(v)) != len(v):
            raise ValueError(f"lists a value twice: {v}")
        return v
