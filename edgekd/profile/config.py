"""The recipe's ``targets:`` section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from edgekd.profile.schema import BUDGET_KEYS

DEFAULT_TARGETS = ("pixel-4", "rpi-4", "nano-33-ble")  # a phone, a board, a microcontroller


class TargetsConfig(BaseModel):
    """Which devices to profile on and against which budgets.

    ``names`` are shipped target ids or paths to target YAML files (empty: the defaults,
    a phone, a board and a microcontroller); ``budgets`` overrides
    a target's default budgets per target name, e.g. ``{"pixel-4": {"latency_ms": 20}}``;
    ``strict`` compares latency and energy budgets with the high end of the prediction
    band; ``measure`` also times the model on this host; ``input_shapes`` gives the size of
    symbolic input dims (``{"images": [1, 3, 640, 640]}``, as ``--input-shape``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    names: list[str] = Field(default_factory=lambda: list(DEFAULT_TARGETS))
    runtime: str | None = None
    budgets: dict[str, dict[str, float]] = Field(default_factory=dict)
    strict: bool = False
    measure: bool = True
    threads: int | None = Field(default=None, ge=1)
    input_shapes: dict[str, list[int]] = Field(
        default_factory=dict, description="input name -> shape, for symbolic input dims"
    )

    @field_validator("runtime")
    @classmethod
    def _known_runtime(cls, v: str | None) -> str | None:
        from edgekd.profile.targets import runtime_names

        if v is not None and v not in runtime_names():
            raise ValueError(f"unknown runtime {v!r}; valid: {', '.join(runtime_names())}")
        return v

    @field_validator("input_shapes")
    @classmethod
    def _positive_dims(cls, v: dict[str, list[int]]) -> dict[str, list[int]]:
        for name, dims in v.items():
            if not dims or any(d <= 0 for d in dims):
                raise ValueError(f"shape of {name!r} must be a non-empty list of positive ints")
        return v

    @field_validator("budgets")
    @classmethod
    def _known_budget_keys(cls, v: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        from edgekd.profile.lm_profile import LM_BUDGET_KEYS  # task: causal_lm's files

        valid = tuple(dict.fromkeys((*BUDGET_KEYS, *LM_BUDGET_KEYS)))
        for name, keys in v.items():
            bad = [k for k in keys if k not in valid]
            if bad:
                raise ValueError(
                    f"unknown budget key(s) {', '.join(bad)} for {name}; valid: {', '.join(valid)}"
                )
        return v
