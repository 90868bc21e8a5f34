"""The recipe's ``targets`` section."""

from __future__ import annotations

from edgekd.recipe.base import Section


class TargetsConfig(Section):
    names: list[str] = []
