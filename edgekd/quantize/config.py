"""The recipe's ``quantize`` section (off by default)."""

from __future__ import annotations

from typing import Literal

from edgekd.recipe.base import Section


class QuantizeConfig(Section):
    method: Literal["none"] = "none"
