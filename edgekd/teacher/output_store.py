"""The teacher-output cache for any dataset size: sharded ``.npy`` files plus an index.

An entry is a directory in the cache (``Cache.entry_dir``): per split, shards of
``shard_rows`` rows (``train-00000.logits.npy``...), each written atomically as soon as it is
computed, and ``index.json``, written last, which makes the entry complete. A fill that is
killed keeps its finished shards; the next fill computes only the missing ones. Shards are
memory-mapped when read, so training gathers the rows of a batch from disk and the logits of
a large dataset never sit in memory at once.

With ``top_k``, a shard stores the k largest logits, their class indices and the tail mass
``log sum_{j not in top-k} exp(z_j)`` (a log-sum-exp) instead of every logit: the sparse
soft targets of large-vocabulary distillation (as in "sparse" or top-k KD, e.g. Raman et
al. 2023). Reading a row rebuilds dense logits whose softmax has exactly the cached top-k
probabilities and puts the tail mass uniformly on the other classes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekd.fileio import atomic_path, atomic_write_json

if TYPE_CHECKING:
    from edgekd.cache import Cache

FORMAT = 1
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ShardedLogits:
    """One split's cached teacher outputs: rows gathered from memory-mapped shards."""

    shards: list[dict[str, np.ndarray]]
    shard_rows: int
    rows: int
    num_classes: int
    top_k: int | None = None

    def __len__(self) -> int:
        return self.rows

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.num_classes)

    ndim = 2
    dtype = np.dtype(np.float32)

    def argmax(self, axis: int = 1) -> np.ndarray:
        """Top-1 class per row, read shard by shard."""
        assert axis == 1
        return np.concatenate(
            [self[i : i + self.shard_rows].argmax(1) for i in range(0, self.rows, self.shard_rows)]
        ) if self.rows else np.zeros(0, np.int64)  # fmt: skip

    def __getitem__(self, ix: Any) -> np.ndarray:
        """Dense float32 logits of rows ``ix`` (an int, a slice or an index array)."""
        if isinstance(ix, (int, np.integer)):
            return self[np.asarray([ix])][0]
        idx = np.arange(self.rows)[ix] if isinstance(ix, slice) else np.asarray(ix, np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.rows):
            raise IndexError(f"rows {idx.min()}..{idx.max()} outside 0..{self.rows - 1}")
        out = np.empty((len(idx), self.num_classes), np.float32)
        shard = idx // self.shard_rows
        for s in np.unique(shard):
            where = np.flatnonzero(shard == s)
            local = idx[where] - s * self.shard_rows
            out[where] = self._dense(self.shards[int(s)], local)
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[np.arange(self.rows)]
        return out if dtype is None else out.astype(dtype)

    def _dense(self, shard: dict[str, np.ndarray], local: np.ndarray) -> np.ndarray:
        if self.top_k is None:
            return np.asarray(shard["logits"][local], np.float32)
        return dense_from_top_k(
            shard["values"][local], shard["indices"][local], shard["tail"][local], self.num_classes
        )


def top_k_of(logits: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """The k largest logits per row (descending), their classes and the tail's log-sum-exp."""
    z = logits.astype(np.float64)
    idx = np.argsort(-z, axis=1, kind="stable")[:, :k]
    values = np.take_along_axis(z, idx, axis=1)
    rest = z.copy()
    np.put_along_axis(rest, idx, -np.inf, axis=1)
    m = rest.max(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        tail = np.where(
            np.isfinite(m[:, 0]),
            m[:, 0] + np.log(np.exp(rest - np.where(np.isfinite(m), m, 0)).sum(axis=1)),
            -np.inf,
        )
    return {
        "values": values.astype(np.float32),
        "indices": idx.astype(np.int32),
        "tail": tail.astype(np.float32),
    }


def dense_from_top_k(
    values: np.ndarray, indices: np.ndarray, tail: np.ndarray, num_classes: int
) -> np.ndarray:
    """Logits with the cached top-k entries and the tail mass spread evenly over the rest:
    ``z_j = tail - log(C - k)`` for the other classes (softmax then matches exactly)."""
    n, k = values.shape
    rest = num_classes - k
    fill = tail.astype(np.float64) - (np.log(rest) if rest > 0 else 0.0)
    out = np.repeat(fill[:, None], num_classes, axis=1)
    out = np.where(np.isfinite(out), out, np.float32(-1e9))  # no tail: the rest is impossible
    np.put_along_axis(out, indices.astype(np.int64), values.astype(np.float64), axis=1)
    return out.astype(np.float32)


def _names(split: str, s: int, top_k: int | None) -> dict[str, str]:
    parts = ("logits",) if top_k is None else ("values", "indices", "tail")
    return {p: f"{split}-{s:05d}.{p}.npy" for p in parts}


def _read_shard(folder: Path, names: dict[str, str], rows: int) -> dict[str, np.ndarray] | None:
    """A finished shard, memory-mapped; None if a file is missing or has the wrong rows."""
    out = {}
    for part, name in names.items():
        try:
            arr = np.load(folder / name, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            return None
        if arr.shape[0] != rows:
            return None
        out[part] = arr
    return out


def _save(path: Path, arr: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, np.ascontiguousarray(arr))


def fill(
    folder: Path,
    splits: dict[str, int],
    run_split: Callable[[str, int, int], Iterator[np.ndarray]],
    num_classes: int,
    shard_rows: int,
    top_k: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Compute every missing shard of ``splits`` (name -> rows) and write ``index.json``.

    ``run_split(split, start, stop)`` yields the teacher's logits for those rows, batch by
    batch. Shards already on disk (from a killed fill) are kept. Returns the index.
    """
    k = top_k if top_k is not None and top_k < num_classes else None
    total = sum(splits.values())
    done = 0
    index: dict[str, Any] = {"format": FORMAT, "num_classes": num_classes,
                             "shard_rows": shard_rows, "top_k": k, "splits": {}}  # fmt: skip
    for split, n in splits.items():
        shards = []
        for s, start in enumerate(range(0, n, shard_rows)):
            stop = min(start + shard_rows, n)
            names = _names(split, s, k)
            if _read_shard(folder, names, stop - start) is None:
                parts = [np.asarray(b, np.float32) for b in run_split(split, start, stop)]
                logits = np.concatenate(parts) if parts else np.zeros((0, num_classes), np.float32)
                if logits.shape != (stop - start, num_classes):
                    raise ValueError(
                        f"teacher outputs for {split} rows {start}..{stop} have shape "
                        f"{logits.shape}, expected {(stop - start, num_classes)}"
                    )
                arrays = {"logits": logits} if k is None else top_k_of(logits, k)
                for part, name in names.items():
                    _save(folder / name, arrays[part])
            shards.append(names)
            done += stop - start
            if progress is not None:
                progress(done, total)
        index["splits"][split] = {"rows": n, "shards": shards}
    index["bytes"] = sum(f.stat().st_size for f in folder.glob("*.npy"))
    atomic_write_json(folder / "index.json", index)
    return index


def open_entry(folder: Path, splits: dict[str, int]) -> dict[str, ShardedLogits]:
    """The complete entry in ``folder``, memory-mapped; raises if incomplete or stale."""
    index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    if index.get("format") != FORMAT:
        raise ValueError(f"{folder}: cache format {index.get('format')} (expected {FORMAT})")
    out = {}
    for split, n in splits.items():
        entry = index["splits"][split]
        if entry["rows"] != n:
            raise ValueError(f"{folder}: {split} has {entry['rows']} rows, the data {n}")
        rows = [min(index["shard_rows"], n - i) for i in range(0, n, index["shard_rows"])]
        shards = [
            _read_shard(folder, names, r) for names, r in zip(entry["shards"], rows, strict=True)
        ]
        if any(s is None for s in shards):
            raise ValueError(f"{folder}: a shard of {split} is missing or truncated")
        found = [s for s in shards if s is not None]
        out[split] = ShardedLogits(found, index["shard_rows"], n, index["num_classes"],
                                   index["top_k"])  # fmt: skip
    return out


def open_folder(folder: Path) -> dict[str, ShardedLogits]:
    """Every split of the complete entry in ``folder`` (a cache entry, or its copy in a run
    directory: ``teacher/outputs``), memory-mapped."""
    index = json.loads((Path(folder) / "index.json").read_text(encoding="utf-8"))
    return open_entry(Path(folder), {k: v["rows"] for k, v in index["splits"].items()})


def entry_bytes(folder: Path) -> int:
    """Bytes the entry takes on disk."""
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())


def cached_outputs(
    cache: Cache,
    key_parts: list[str],
    splits: dict[str, int],
    run_split: Callable[[str, int, int], Iterator[np.ndarray]],
    num_classes: int,
    shard_rows: int = 4096,
    top_k: int | None = None,
    progress: Progress | None = None,
) -> tuple[dict[str, ShardedLogits], bool, dict[str, Any]]:
    """(outputs per split, hit, info): the complete entry, or the missing shards filled.
    ``info`` holds the entry's ``bytes`` on disk, its shard count and whether a killed fill
    was resumed (``resumed_shards``)."""
    from edgekd.distributed import world

    key = [*key_parts, f"shard_rows={shard_rows}", f"top_k={top_k}"]
    folder = cache.entry_dir("teacher-outputs", key)

    def open_or_fill() -> tuple[dict[str, ShardedLogits], bool, int]:
        try:
            return open_entry(folder, splits), True, 0
        except (OSError, ValueError, KeyError, TypeError):
            folder.mkdir(parents=True, exist_ok=True)
            before = len(list(folder.glob("*.npy")))
            fill(folder, splits, run_split, num_classes, shard_rows, top_k, progress)
            return open_entry(folder, splits), False, before

    if world.active() is None:
        out, hit, resumed = open_or_fill()
    else:  # every rank asks: rank 0 fills the entry alone, the others then open it
        hit, resumed = False, 0
        if world.is_main():
            with world.alone():
                out, hit, resumed = open_or_fill()
        world.wait(f"rank 0 filling teacher outputs {folder.name}")
        hit = world.broadcast(hit, f"whether teacher outputs {folder.name} were cached")
        if not world.is_main():
            out = open_entry(folder, splits)
    info = {
        "bytes": entry_bytes(folder),
        "shards": sum(len(v.shards) for v in out.values()),
        "shard_rows": shard_rows,
        "top_k": next(iter(out.values())).top_k if out else None,
        "resumed_files": resumed,
        "path": str(folder),
    }
    cache.report("teacher-outputs", folder, hit, bytes=info["bytes"])
    return out, hit, info
