"""Teacher outputs: the teacher's logits for every train, val and test sample, computed once
per (teacher hash, data hash) through the cache and reused by distillation epochs, later
stages and reruns, so a rerun never calls the teacher.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgekd.cache import Cache, load_npz, save_npz
from edgekd.data.loaders import DataSplits
from edgekd.teacher.load import Teacher

SPLITS = ("train", "val", "test")


def teacher_outputs(
    teacher: Teacher,
    data: DataSplits,
    cache: Cache,
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, np.ndarray], bool]:
    """Teacher logits for train/val/test: from the cache, or computed once and stored.

    Returns (outputs, cache_hit). ``progress(done, total)`` is called while computing.
    """

    def make() -> dict[str, np.ndarray]:
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
        return out

    def load(path: Path) -> dict[str, np.ndarray]:
        out = load_npz(path)
        if any(len(out[s]) != len(getattr(data, s)) for s in SPLITS):
            raise ValueError(f"{path}: rows do not match the data splits")
        return out

    key = [teacher.identity, data.hash]
    return cache.get_or_make("teacher-outputs", key, make, load, save_npz, ".npz")
