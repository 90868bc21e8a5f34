"""Where data comes from: ``SOURCES`` maps each ``data.source`` name to its reader.

A reader takes the recipe's ``data`` section and returns :class:`Raw`: the examples (rows
of an array, image files, texts) addressable one at a time, integer labels 0..K-1, the class
names, what kind of inputs they make (``array``, ``image``, ``text``), a content hash, and
the split each example belongs to when the source names splits (``hf``).
``edgekd.data.loaders`` splits them and attaches the preprocessing. A source with
``needs_path`` reads ``data.path``, checked to exist first (``path_kind``: a file, a
directory, or either). To add a source, write its reader in its own module and add it here;
the recipe's ``data.source`` accepts the keys.

``completions`` (datasets written by ``edgekd completions``) is a later source: its reader
will return the prompts as text examples like ``text``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np

    from edgekd.data.config import DataConfig
    from edgekd.data.dataset import Examples

Kind = Literal["array", "image", "text"]


@dataclass
class Raw:
    """A source's examples before splitting and preprocessing.

    ``dense``: for array data, the whole (small) array (the examples are its rows).
    ``named``: split name (``train``/``val``/``test``) -> example positions, when the
    source names its splits; unnamed splits are drawn stratified by seed.
    """

    examples: Examples
    labels: np.ndarray
    class_names: list[str]
    kind: Kind
    where: str
    digest: str
    dense: np.ndarray | None = None
    named: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    load: Callable[[DataConfig], Raw]
    needs_path: bool = False
    path_kind: Literal["file", "dir", "any"] = "file"


def _sklearn(name: str) -> Callable[[DataConfig], Raw]:
    """A dataset that ships with scikit-learn."""

    def load(cfg: DataConfig) -> Raw:
        from edgekd.data.loaders import array_raw, load_builtin

        return array_raw(*load_builtin(name), cfg)

    return load


def _npz(cfg: DataConfig) -> Raw:
    from edgekd.data.loaders import array_raw, load_npz

    return array_raw(*load_npz(Path(str(cfg.path))), cfg)


def _csv(cfg: DataConfig) -> Raw:
    from edgekd.data.loaders import array_raw, load_csv

    return array_raw(*load_csv(Path(str(cfg.path)), cfg.label_column), cfg)


def _imagefolder(cfg: DataConfig) -> Raw:
    from edgekd.data.readers import read_imagefolder

    return read_imagefolder(cfg)


def _text(cfg: DataConfig) -> Raw:
    from edgekd.data.readers import read_text

    return read_text(cfg)


def _hf(cfg: DataConfig) -> Raw:
    from edgekd.data.readers import read_hf

    return read_hf(cfg)


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
    "imagefolder": Source(_imagefolder, needs_path=True, path_kind="dir"),
    "text": Source(_text, needs_path=True),
    "hf": Source(_hf, needs_path=True, path_kind="any"),
    "completions": Source(_completions, needs_path=True),
}
BUILTIN = tuple(name for name, s in SOURCES.items() if not s.needs_path)

if TYPE_CHECKING:
    DataSource = str
else:
    DataSource = Literal[tuple(SOURCES)]
