"""The recipe's ``targets`` section."""

from __future__ import annotations

from edgekd.recipe.base import Section


class TargetsConfig(Section):
    names: list[str] = []
    runtime: str | None = None
    budgets: dict[str, dict[str, float]] = {}
    strict: bool = False
    measure: bool = True
