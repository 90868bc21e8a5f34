"""``data.source: hf``: a Hugging Face ``datasets`` dataset on disk, with named splits.

``data.path`` is a directory written by ``DatasetDict.save_to_disk`` (or ``Dataset.save_to_disk``,
one split), or a directory of Parquet / JSON Lines files named by split (``train.parquet``,
``validation.jsonl``, ``test-00000-of-00002.parquet``...), or one such file. Rows are read
on demand from the memory-mapped Arrow data. An ``Image`` column makes image data, a string
column text (``data.text_column``); ``data.label_column`` holds the labels (a ``ClassLabel``
gives the class names). The named splits are kept; a missing validation or test split is
carved from train, stratified by ``data.seed``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekd.errors import DataError, require

SPLIT_NAMES = {"train": ("train",), "val": ("validation", "valid", "val", "dev"),
               "test": ("test",)}  # fmt: skip
FILE_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "json", ".json": "json"}


@dataclass(frozen=True)
class HFRows:
    """One column of the concatenated splits, decoded row by row (images to PIL)."""

    parts: list[Any]  # datasets.Dataset per split
    offsets: np.ndarray  # start row of each part
    column: str

    def __len__(self) -> int:
        return int(self.offsets[-1] + len(self.parts[-1])) if self.parts else 0

    def get(self, i: int) -> Any:
        k = int(np.searchsorted(self.offsets, i, side="right") - 1)
        return self.parts[k][int(i - self.offsets[k])][self.column]


def load_splits(path: Path) -> dict[str, Any]:
    """``{split name: datasets.Dataset}`` from a ``save_to_disk`` directory or data files."""
    datasets = require("datasets", "data")
    datasets.disable_progress_bars()
    if path.is_dir() and any((path / f).is_file() for f in ("dataset_dict.json", "state.json")):
        try:
            loaded = datasets.load_from_disk(str(path))
        except Exception as exc:
            raise DataError(f"{path}: not a readable datasets directory ({exc})") from None
        return dict(loaded) if isinstance(loaded, datasets.DatasetDict) else {"train": loaded}
    files = _data_files(path)
    out = {}
    for split, group in files.items():
        kind = FILE_SUFFIXES[group[0].suffix.lower()]
        try:
            names = [str(f) for f in group]
            if kind == "parquet":
                out[split] = datasets.Dataset.from_parquet(names)
            else:
                out[split] = datasets.Dataset.from_json(names)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(f"{group[0]}: not a readable {kind} file ({first})") from None
    return out


def _data_files(path: Path) -> dict[str, list[Path]]:
    if path.is_file():
        if path.suffix.lower() not in FILE_SUFFIXES:
            raise DataError(f"{path}: expected a .parquet or .jsonl file, or a datasets directory")
        return {"train": [path]}
    if not path.is_dir():
        raise DataError(f"data.path: {path}: no such file or directory")
    found: dict[str, list[Path]] = {}
    for f in sorted(path.iterdir()):
        if f.suffix.lower() in FILE_SUFFIXES:
            split = re.split(r"[-_.]", f.stem, maxsplit=1)[0].lower()
            found.setdefault(split, []).append(f)
    if not found:
        raise DataError(
            f"{path}: no datasets directory (dataset_dict.json from save_to_disk) and no "
            ".parquet/.jsonl files named by split (train.parquet, test.parquet, ...)"
        )
    return found


def pick_splits(splits: dict[str, Any], path: Path) -> dict[str, Any]:
    """``{"train": ..., "val": ..., "test": ...}`` (val and test when present) by name."""
    out = {}
    for role, names in SPLIT_NAMES.items():
        for n in names:
            if n in splits:
                out[role] = splits[n]
                break
    if "train" not in out:
        raise DataError(
            f"{path}: no train split (found {', '.join(sorted(splits)) or 'none'}); name the "
            "training split 'train'"
        )
    return out


def column_kind(ds: Any, column: str, path: Path, field: str) -> str:
    """``image`` or ``text``: what a column holds, from the dataset's features."""
    datasets = require("datasets", "data")
    if column not in ds.column_names:
        raise DataError(
            f"{path}: no column {column!r} (columns: {', '.join(ds.column_names)}); set {field}"
        )
    feature = ds.features[column]
    if isinstance(feature, datasets.Image):
        return "image"
    if getattr(feature, "dtype", None) in ("string", "large_string"):
        return "text"
    raise DataError(f"{path}: column {column!r} holds {feature}, expected images or text")


def input_column(ds: Any, cfg_text_column: str, path: Path) -> tuple[str, str]:
    """The input column and its kind: an ``Image`` column if there is one, else the text
    column the recipe names."""
    datasets = require("datasets", "data")
    for name, feature in ds.features.items():
        if isinstance(feature, datasets.Image):
            return name, "image"
    return cfg_text_column, column_kind(ds, cfg_text_column, path, "data.text_column")


def labels_of(parts: dict[str, Any], column: str, path: Path) -> tuple[np.ndarray, list[str]]:
    """Labels of all splits (train first), encoded 0..K-1, and the class names."""
    datasets = require("datasets", "data")
    first = next(iter(parts.values()))
    if column not in first.column_names:
        raise DataError(
            f"{path}: no label column {column!r} (columns: {', '.join(first.column_names)}); "
            "set data.label_column"
        )
    feature = first.features[column]
    values = [np.asarray(p[column], dtype=object) for p in parts.values()]
    flat = np.concatenate(values) if values else np.zeros(0, dtype=object)
    if any(v is None for v in flat):
        row = int(np.flatnonzero([v is None for v in flat])[0])
        raise DataError(f"{path}: row {row + 1}: missing label in column {column!r}")
    if isinstance(feature, datasets.ClassLabel):
        return flat.astype(np.int64), list(feature.names)
    from edgekd.data.loaders import encode_labels

    return encode_labels(np.asarray(flat.tolist()))
