"""The recipe's ``evaluate`` section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgekd.config import Section


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
    batch_size: int = Field(256, ge=1)
    latency_runs: int = Field(50, ge=50, description="timed onnxruntime runs after warm-up")
    warmup_runs: int = Field(10, ge=1)
    lm: LMEvalConfig = LMEvalConfig()
