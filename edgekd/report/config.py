"""The recipe's ``report`` section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgekd.config import Section


class ReportConfig(Section):
    """Which report files a run writes, and how many ops the HTML's top-ops plot shows."""

    formats: list[Literal["json", "md", "html"]] = ["json", "md", "html"]
    top_ops: int = Field(default=8, ge=1, le=50)
