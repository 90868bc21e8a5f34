"""Readers of the file sources that stream: ``imagefolder``, ``text`` and ``hf``.

Each returns :class:`~edgekd.data.sources.Raw` with examples read one at a time (image
paths, an Arrow string column, rows of a memory-mapped ``datasets`` table) and a content
hash of the files, so caches keyed by the data notice any change.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgekd.data.dataset import ListExamples
from edgekd.data.sources import Raw
from edgekd.errors import DataError
from edgekd.fileio import sha256_file

if TYPE_CHECKING:
    from edgekd.data.config import DataConfig


def _files_digest(root: Path, files: list[str]) -> str:
    """Each file's path (relative), size and modification time, hashed (a changed file has a
    new mtime, and no image is read twice just to be hashed)."""
    h = hashlib.sha256()
    for f in files:
        st = Path(f).stat()
        h.update(f"{Path(f).relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def read_imagefolder(cfg: DataConfig) -> Raw:
    from edgekd.data.image import check_images, scan_folder

    root = Path(str(cfg.path))
    scan = scan_folder(root)
    if cfg.image.check:
        check_images(scan.files)
    return Raw(
        examples=ListExamples(scan.files),
        labels=scan.labels,
        class_names=scan.classes,
        kind="image",
        where=str(root),
        digest=_files_digest(root, scan.files),
    )


def read_text(cfg: DataConfig) -> Raw:
    from edgekd.data.loaders import encode_labels
    from edgekd.data.text import ArrowTexts, label_values, read_table, text_column

    path = Path(str(cfg.path))
    table = read_table(path, [cfg.text_column, cfg.label_column])
    texts = text_column(table, str(path), cfg.text_column)
    labels, names = encode_labels(label_values(table, str(path), cfg.label_column))
    return Raw(
        examples=ArrowTexts(texts),
        labels=labels,
        class_names=names,
        kind="text",
        where=str(path),
        digest=sha256_file(path),
    )


def read_hf(cfg: DataConfig) -> Raw:
    from edgekd.data.hf_datasets import HFRows, input_column, labels_of, load_splits, pick_splits

    path = Path(str(cfg.path))
    parts = pick_splits(load_splits(path), path)
    column, kind = input_column(parts["train"], cfg.text_column, path)
    for role, ds in parts.items():
        if column not in ds.column_names:
            raise DataError(f"{path}: the {role} split has no column {column!r}")
    if kind == "text":
        for role, ds in parts.items():
            texts = ds[column]
            bad = [i for i, t in enumerate(texts) if t is None or not str(t).strip()]
            if bad:
                raise DataError(
                    f"{path}: {role} split, row {bad[0] + 1}: empty text in column {column!r}"
                )
    labels, names = labels_of(parts, cfg.label_column, path)
    sizes = [len(ds) for ds in parts.values()]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    named = {
        role: np.arange(o, o + n, dtype=np.int64)
        for role, o, n in zip(parts, offsets, sizes, strict=True)
    }
    digest = hashlib.sha256()
    for role, ds in parts.items():
        digest.update(role.encode())
        digest.update(str(getattr(ds, "_fingerprint", "")).encode())
        for f in ds.cache_files:
            digest.update(sha256_file(f["filename"]).encode())
    return Raw(
        examples=HFRows(list(parts.values()), offsets, column),
        labels=labels,
        class_names=names,
        kind=kind,  # type: ignore[arg-type]
        where=str(path),
        digest=digest.hexdigest(),
        named=named,
        info={"column": column, "splits": {r: len(d) for r, d in parts.items()}},
    )
