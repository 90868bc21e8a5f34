"""The recipe's ``report`` section."""

from __future__ import annotations

from typing import Literal

from edgekd.recipe.base import Section


class ReportConfig(Section):
    formats: list[Literal["json", "md"]] = ["json", "md"]
