"""Base for every recipe section: unknown keys are errors and configs are immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    # allow_inf_nan=False: `inf` would pass a `gt=0` bound (a temperature of inf trains NaN)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
