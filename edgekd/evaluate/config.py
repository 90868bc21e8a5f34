"""The recipe's ``evaluate`` section."""

from __future__ import annotations

from pydantic import Field

from edgekd.config import Section


class EvaluateConfig(Section):
    batch_size: int = Field(256, ge=1)
    latency_runs: int = Field(50, ge=50, description="timed onnxruntime runs after warm-up")
    warmup_runs: int = Field(10, ge=1)
