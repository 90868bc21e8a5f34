"""The recipe's ``prune`` section (off by default)."""

from __future__ import annotations

from typing import Literal

from edgekd.recipe.base import Section


class PruneConfig(Section):
    method: Literal["none"] = "none"
