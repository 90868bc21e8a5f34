"""Where data comes from: ``SOURCES`` maps each ``data.source`` name to its loader.

A loader takes the recipe's ``data`` section and returns the raw arrays ``(x, y,
class_names)``: inputs (N, ...) as numbers, integer labels 0..K-1 and the name of each
class; ``edgekd.data.loaders`` splits and normalizes them. A source with ``needs_path`` reads
``data.path``, which is checked to exist first. To add a source, write its loader in its own
module and add it here; the recipe's ``data.source`` accepts the keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np

    from edgekd.data.config import DataConfig

Raw = tuple["np.ndarray", "np.ndarray", list[str]]


@dataclass(frozen=True)
class Source:
    load: Callable[[DataConfig], Raw]
    needs_path: bool = False


def _sklearn(name: str) -> Callable[[DataConfig], Raw]:
    """A dataset that ships with scikit-learn."""

    def load(cfg: DataConfig) -> Raw:
        from edgekd.data.loaders import load_builtin

        return load_builtin(name)

    return load


def _npz(cfg: DataConfig) -> Raw:
    from edgekd.data.loaders import load_npz

    return load_npz(Path(str(cfg.path)))


def _csv(cfg: DataConfig) -> Raw:
    from edgekd.data.loaders import load_csv

    return load_csv(Path(str(cfg.path)), cfg.label_column)


def _completions(cfg: DataConfig) -> Raw:
    """A completions dataset is token sequences, not arrays: the ``task: causal_lm`` plan
    (``edgekd.pipeline.lm``) reads it; the recipe refuses it for any other task."""
    from edgekd.errors import RecipeError

    raise RecipeError("data.source: completions trains a language-model student (task: causal_lm)")


SOURCES: dict[str, Source] = {
    "digits": Source(_sklearn("digits")),
    "breast_cancer": Source(_sklearn("breast_cancer")),
    "wine": Source(_sklearn("wine")),
    "iris": Source(_sklearn("iris")),
    "npz": Source(_npz, needs_path=True),
    "csv": Source(_csv, needs_path=True),
    "completions": Source(_completions, needs_path=True),
}
BUILTIN = tuple(name for name, s in SOURCES.items() if not s.needs_path)

if TYPE_CHECKING:
    DataSource = str
else:
    DataSource = Literal[tuple(SOURCES)]
