"""The recipe's ``output`` section."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import field_validator

from edgekd.config import Section

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,200}")


class OutputConfig(Section):
    """Where runs go (``dir/<name>-<timestamp>/``) and where teacher outputs are cached.

    ``name`` is one path component (letters, digits, ``-``, ``_``, ``.``), so a run directory
    is always created inside ``dir`` (``--out``), never beside or above it.
    """

    dir: Path = Path("runs")
    name: str = "digits"
    cache_dir: Path | None = None

    @field_validator("name")
    @classmethod
    def _one_path_component(cls, value: str) -> str:
        if not _NAME.fullmatch(value) or value in (".", ".."):
            raise ValueError(
                f"got {value!r}; expected one path component of 1-200 letters, digits, "
                "'-', '_' or '.' (not '.' or '..'): the run directory is <output.dir>/<name>-"
                "<timestamp>, and a name with '/' or '..' would write outside --out"
            )
        return value
