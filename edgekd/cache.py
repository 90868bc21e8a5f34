"""The one on-disk cache: everything edgekd computes once and reuses across runs.

Entries live under ``<root>/<kind>/<key><suffix>``, where ``key`` is a content hash of the
entry's inputs (the teacher's hash, the data's hash, the config that shaped it). Kinds in
use: ``teachers`` (trained zoo teachers), ``teacher-outputs`` (logits per split),
``teacher-features`` (hooked layers), ``assistants`` (teacher assistants), ``data-free``
(DeepInversion inputs) and ``zoo`` (reference architectures exported to ONNX).

:meth:`Cache.get_or_make` is the only way in: it loads an entry that exists, or makes it,
saves it atomically (temporary name, then rename) and loads it back, so a hit and a miss
return the same thing. An entry that fails to load is made again, never trusted. Every
lookup is reported to ``record`` (the pipeline writes them into the run's manifest).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from edgekd.fileio import atomic_save, sha256_bytes

if TYPE_CHECKING:
    import numpy as np

T = TypeVar("T")
V = TypeVar("V")


def cache_root(configured: Path | None = None) -> Path:
    """``output.cache_dir``, else ``$EDGEKD_CACHE``, else ``~/.cache/edgekd``."""
    if configured is not None:
        return Path(configured).expanduser()
    env = os.environ.get("EDGEKD_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "edgekd"


def cache_key(parts: Sequence[str | bytes]) -> str:
    """A 32-hex-digit content hash of ``parts`` (each hashed on its own, so no part can run
    into the next)."""
    return sha256_bytes(*(p.encode() if isinstance(p, str) else p for p in parts))[:32]


@dataclass(frozen=True)
class Cache:
    """The cache under ``root``; ``record(event)`` hears of every hit and miss."""

    root: Path
    record: Callable[[dict[str, Any]], None] | None = None

    def path(self, kind: str, key_parts: Sequence[str | bytes], suffix: str = "") -> Path:
        return self.root / kind / f"{cache_key(key_parts)}{suffix}"

    def get_or_make(
        self,
        kind: str,
        key_parts: Sequence[str | bytes],
        make: Callable[[], V],
        load: Callable[[Path], T],
        save: Callable[[V, Path], None],
        suffix: str = "",
        collective_make: bool = False,
    ) -> tuple[T, bool]:
        """(the entry, hit): ``load(path)`` if it exists and loads, else ``make()``,
        ``save(value, tmp)`` atomically, and ``load(path)``.

        When every rank of a distributed run asks for the same entry
        (:func:`edgekd.distributed.world.active`), rank 0 decides hit or miss for all; on a miss
        rank 0 alone makes and saves it (or, with ``collective_make``, every rank makes it
        together, e.g. trains a model under DDP, and rank 0 saves), then all load it."""
        from edgekd.distributed import world

        if world.active() is not None:
            return self._shared(kind, key_parts, make, load, save, suffix, collective_make)
        path = self.path(kind, key_parts, suffix)
        if path.is_file():
            try:
                value = load(path)
            except Exception:
                pass  # unreadable or stale: made again below
            else:
                self._record(kind, path, True)
                return value, True
        made = make()
        atomic_save(path, lambda tmp: save(made, tmp))
        self._record(kind, path, False)
        return load(path), False

    def entry_dir(self, kind: str, key_parts: Sequence[str | bytes]) -> Path:
        """A directory entry (``<root>/<kind>/<key>.d``) for values that are filled piece by
        piece (sharded teacher outputs); its owner writes each piece atomically and marks
        the entry complete itself, and reports the lookup with :meth:`report`."""
        return self.root / kind / f"{cache_key(key_parts)}.d"

    def report(self, kind: str, path: Path, hit: bool, **info: Any) -> None:
        """Tell ``record`` of a lookup (extra ``info``, such as bytes on disk, goes along)."""
        self._record(kind, path, hit, **info)

    def _shared(
        self,
        kind: str,
        key_parts: Sequence[str | bytes],
        make: Callable[[], V],
        load: Callable[[Path], T],
        save: Callable[[V, Path], None],
        suffix: str,
        collective_make: bool,
    ) -> tuple[T, bool]:
        """:meth:`get_or_make` on every rank at once: made once, never once per rank."""
        from edgekd.distributed import world

        path = self.path(kind, key_parts, suffix)
        hit = False
        if world.is_main() and path.is_file():
            try:
                load(path)
                hit = True
            except Exception:
                pass  # unreadable or stale: made again below
        hit = world.broadcast(hit, f"whether cache entry {kind}/{path.stem} exists")
        if not hit:
            if collective_make:
                made = make()
            elif world.is_main():
                with world.alone():
                    made = make()
            if world.is_main():
                atomic_save(path, lambda tmp: save(made, tmp))
            world.wait(f"rank 0 writing cache entry {kind}/{path.stem}")
        self._record(kind, path, hit)
        return load(path), hit

    def _record(self, kind: str, path: Path, hit: bool, **info: Any) -> None:
        if self.record is not None:
            key = path.name.removesuffix(".d") if path.suffix == ".d" else path.stem
            self.record({"kind": kind, "key": key, "hit": hit, **info})


def save_npz(arrays: dict[str, np.ndarray], path: Path) -> None:
    """Arrays to an .npz at exactly ``path`` (a file object, so numpy appends no suffix)."""
    import numpy as np

    with open(path, "wb") as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]


def load_npz(path: Path) -> dict[str, np.ndarray]:
    import numpy as np

    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}
