"""The on-disk cache: trained zoo teachers and teacher outputs, keyed by content hash.

Teacher logits for every train, val and test sample are computed once per
(teacher hash, data hash) and reused across distillation epochs, later stages and runs,
so a rerun never calls the teacher.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgekd.data.loaders import DataSplits
from edgekd.fileio import atomic_save, sha256_bytes
from edgekd.teacher.load import Teacher

SPLITS = ("train", "val", "test")


def cache_root(configured: Path | None = None) -> Path:
    """``output.cache_dir``, else ``$EDGEKD_CACHE``, else ``~/.cache/edgekd``."""
    if configured is not None:
        return Path(configured).expanduser()
    env = os.environ.get("EDGEKD_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "edgekd"


def outputs_key(teacher_identity: str, data_hash: str) -> str:
    return sha256_bytes(teacher_identity.encode(), data_hash.encode())[:32]


def outputs_path(root: Path, teacher_identity: str, data_hash: str) -> Path:
    return root / "teacher-outputs" / f"{outputs_key(teacher_identity, data_hash)}.npz"


def load_cached_outputs(
    root: Path, teacher_identity: str, data: DataSplits
) -> dict[str, np.ndarray] | None:
    """The cached logits per split, or None when this (teacher, data) pair was never run."""
    path = outputs_path(root, teacher_identity, data.hash)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            out = {s: f[s] for s in SPLITS}
    except Exception:
        return None  # an unreadable entry is recomputed, never trusted
    if any(len(out[s]) != len(getattr(data, s)) for s in SPLITS):
        return None
    return out


def teacher_outputs(
    teacher: Teacher, data: DataSplits, root: Path, batch_size: int = 256, progress=None
) -> tuple[dict[str, np.ndarray], bool]:
    """Teacher logits for train/val/test: from the cache, or computed once and stored.

    Returns (outputs, cache_hit). ``progress(done, total)`` is called while filling.
    """
    cached = load_cached_outputs(root, teacher.identity, data)
    if cached is not None:
        return cached, True
    total = sum(len(getattr(data, s)) for s in SPLITS)
    done, out = 0, {}
    for s in SPLITS:
        x = getattr(data, s).x
        parts = []
        for i in range(0, len(x), batch_size):
            parts.append(teacher.predict(x[i : i + batch_size]))
            done += len(parts[-1])
            if progress is not None:
                progress(done, total)
        out[s] = np.concatenate(parts).astype(np.float32)
    path = outputs_path(root, teacher.identity, data.hash)

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object, so numpy does not append ".npz"
            np.savez(f, train=out["train"], val=out["val"], test=out["test"])

    atomic_save(path, save)
    return out, False
