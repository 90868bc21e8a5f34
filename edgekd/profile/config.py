"""The recipe's ``targets:`` section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TargetsConfig(BaseModel):
    """Which devices to profile on and against which budgets.

    ``names`` are shipped target ids or paths to target YAML files; ``budgets`` overrides
    a target's default budgets per target name, e.g. ``{"pixel-4": {"latency_ms": 20}}``;
    ``strict`` compares latency and energy budgets with the high end of the prediction
    band; ``measure`` also times the model on this host.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    names: list[str] = Field(default_factory=lambda: ["pixel-4", "rpi-4", "nucleo-l4r5zi"])
    runtime: str | None = None
    budgets: dict[str, dict[str, float]] = Field(default_factory=dict)
    strict: bool = False
    measure: bool = True
    threads: int | None = Field(default=None, ge=1)
