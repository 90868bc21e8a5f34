"""Teacher outputs: the teacher's logits for every train, val and test sample, computed once
per (teacher hash, data hash) into the sharded, memory-mapped cache
(``edgekd.teacher.output_store``) and reused by distillation epochs, later stages and
reruns, so a rerun never calls the teacher. A killed fill resumes from its last shard.

The teacher reads each split through its own view (``DataSplits.for_teacher``: another
image size, or its own tokenizer) batch by batch; no split is ever one array in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from edgekd.cache import Cache
from edgekd.data.loaders import DataSplits
from edgekd.teacher.load import Teacher
from edgekd.teacher.output_store import ShardedLogits, cached_outputs

SPLITS = ("train", "val", "test")
SHARD_ROWS = 4096


def teacher_outputs(
    teacher: Teacher,
    data: DataSplits,
    cache: Cache,
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
    shard_rows: int = SHARD_ROWS,
    top_k: int | None = None,
    info: dict[str, Any] | None = None,
) -> tuple[dict[str, ShardedLogits], bool]:
    """Teacher logits for train/val/test: from the cache, or computed once and stored.

    Returns (outputs, cache_hit); each split's outputs are memory-mapped rows
    (``outputs["train"][ix]`` gathers rows, ``np.asarray`` reads them all).
    ``progress(done, total)`` is called while computing; ``info`` receives the entry's size
    on disk, shard count and whether a killed fill was resumed.
    """

    def run_split(split: str, start: int, stop: int) -> Iterator[np.ndarray]:
        part = data.for_teacher(split)
        for i in range(start, stop, batch_size):
            yield teacher.predict(part.inputs(np.arange(i, min(i + batch_size, stop))))  # type: ignore[arg-type]

    sizes = {s: len(getattr(data, s)) for s in SPLITS}
    out, hit, found = cached_outputs(
        cache,
        [teacher.identity, data.hash],
        sizes,
        run_split,
        data.num_classes,
        shard_rows=shard_rows,
        top_k=top_k,
        progress=progress,
    )
    if info is not None:
        info.update(found)
    return out, hit
