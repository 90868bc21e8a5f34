"""The recipe's ``output`` section."""

from __future__ import annotations

from pathlib import Path

from edgekd.config import Section


class OutputConfig(Section):
    """Where runs go (``dir/<name>-<timestamp>/``) and where teacher outputs are cached."""

    dir: Path = Path("runs")
    name: str = "digits"
    cache_dir: Path | None = None
