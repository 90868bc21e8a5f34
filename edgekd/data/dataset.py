"""A split of the data: raw examples plus the preprocessing (a *view*) that turns them into
model inputs, read batch by batch.

Every consumer reads batches: the training loop through a torch ``DataLoader`` (a worker
builds a whole batch; optional worker processes and pinned memory), the teacher-output fill,
the runtimes' evaluation, calibration and parity through :meth:`Split.batches` and
:meth:`Split.take`. Nothing turns a whole split into one array, except small in-memory data
(the built-in datasets, ``.npz`` and CSV files), whose normalized array is kept as
``Split.x`` behind the same interface so they stay fast.

Teacher and student may see different views of the same examples (an image at 224 for the
teacher and 96 for the student): :meth:`Split.with_view`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from edgekd.data.inputs import Inputs, InputSpec, concat, rows, select
from edgekd.errors import DataError


class Examples(Protocol):
    """Raw examples addressed by position: rows of an array, image files, texts."""

    def __len__(self) -> int: ...

    def get(self, i: int) -> Any: ...


class View(Protocol):
    """Preprocessing from raw examples to model inputs, saved as ``preprocess.json``."""

    @property
    def kind(self) -> str: ...

    def specs(self) -> list[InputSpec]: ...

    def batch(self, items: Sequence[Any], train: bool, rng: np.random.Generator) -> Inputs: ...

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ListExamples:
    """Examples held in a Python sequence (paths, texts)."""

    items: Sequence[Any]

    def __len__(self) -> int:
        return len(self.items)

    def get(self, i: int) -> Any:
        return self.items[i]


@dataclass(frozen=True)
class Split:
    """The examples ``index`` of ``examples`` (in this order), their labels (None when the
    split is used unlabeled) and the view that preprocesses them.

    ``dense``: the split already preprocessed, for small in-memory data (then ``x``).
    """

    examples: Examples
    index: np.ndarray
    y: np.ndarray | None
    view: View
    dense: np.ndarray | None = None
    name: str = "split"
    workers: int = 0

    def __len__(self) -> int:
        return len(self.index)

    @property
    def x(self) -> np.ndarray:
        """The whole split as one array: only for small in-memory data."""
        if self.dense is None:
            raise DataError(
                f"the {self.name} split of {self.view.kind} data is streamed, never held as "
                "one array: read it with .batches() or .take(n)"
            )
        return self.dense

    def specs(self) -> list[InputSpec]:
        return self.view.specs()

    def inputs(
        self, positions: np.ndarray, train: bool = False, rng: np.random.Generator | None = None
    ) -> Inputs:
        """Model inputs of the split's rows ``positions`` (augmented when ``train``)."""
        positions = np.asarray(positions, dtype=np.int64)
        if self.dense is not None:  # in-memory data (arrays have no augmentation)
            return self.dense[positions]
        items = [self.examples.get(int(self.index[p])) for p in positions]
        return self.view.batch(items, train, rng or np.random.default_rng(0))

    def take(self, n: int) -> Inputs:
        """The first ``n`` rows (all when fewer), preprocessed for evaluation."""
        return self.inputs(np.arange(min(n, len(self))))

    def batches(self, batch_size: int = 256) -> Iterator[Inputs]:
        """The split in order, preprocessed for evaluation, ``batch_size`` rows at a time."""
        for i in range(0, len(self), batch_size):
            yield self.inputs(np.arange(i, min(i + batch_size, len(self))))

    def map_batches(self, fn: Any, batch_size: int = 256) -> np.ndarray:
        """``fn(batch)`` for every batch, outputs joined along the batch axis."""
        outs = [np.asarray(fn(b)) for b in self.batches(batch_size)]
        return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)

    def with_view(self, view: View) -> Split:
        """The same examples seen through another preprocessing (the teacher's)."""
        if view is self.view:
            return self
        dense = None
        if self.dense is not None and getattr(view, "dense_ok", False):
            dense = self.dense
        return replace(self, view=view, dense=dense)

    def subset(self, positions: np.ndarray, name: str | None = None) -> Split:
        positions = np.asarray(positions, dtype=np.int64)
        return replace(
            self,
            index=self.index[positions],
            y=None if self.y is None else self.y[positions],
            dense=None if self.dense is None else self.dense[positions],
            name=name or self.name,
        )

    def loader(
        self,
        batch_size: int,
        *,
        order: Any = None,
        shuffle: bool = False,
        train: bool = False,
        workers: int | None = None,
        drop_single: bool = True,
    ) -> Iterable[tuple[Any, Any, Any]]:
        """A torch ``DataLoader`` of ``(inputs, labels or None, positions)`` batches.

        ``order``: the positions to read, in order (one rank's share of an epoch under DDP);
        else the whole split, shuffled from the global torch RNG (``torch.randperm``) when
        ``shuffle``, so a seeded run is reproducible. A batch of one is skipped when the split
        has more (BatchNorm needs two).
        ``workers`` > 0 builds batches in worker processes; memory is pinned when CUDA is up.
        In-memory data without workers is sliced directly (same batches, no loader overhead).
        """
        import torch

        if order is None:
            order = torch.randperm(len(self)) if shuffle else torch.arange(len(self))
        sampler = _BatchSampler(order, len(self), batch_size, drop_single)
        n_workers = self.workers if workers is None else workers
        if self.dense is not None and n_workers == 0:
            dataset = _BatchDataset(self, train)
            return (dataset[ix] for ix in sampler)
        return torch.utils.data.DataLoader(
            _BatchDataset(self, train),  # type: ignore[arg-type]
            batch_size=None,
            sampler=sampler,
            num_workers=n_workers,
            pin_memory=torch.cuda.is_available(),
            persistent_workers=False,
        )


class _BatchSampler:
    """Lists of positions, one list per batch (a worker then builds the whole batch)."""

    def __init__(self, order: Any, n: int, batch_size: int, drop_single: bool) -> None:
        self.order, self.n, self.batch_size, self.drop_single = order, n, batch_size, drop_single

    def __iter__(self) -> Iterator[list[int]]:
        for i in range(0, len(self.order), self.batch_size):
            ix = self.order[i : i + self.batch_size]
            if self.drop_single and len(ix) < 2 and self.n >= 2:
                continue  # BatchNorm needs more than one sample (the same on every rank)
            yield [int(j) for j in ix]

    def __len__(self) -> int:
        return (len(self.order) + self.batch_size - 1) // self.batch_size


class _BatchDataset:
    """``dataset[positions]`` -> one collated batch of torch tensors."""

    def __init__(self, split: Split, train: bool) -> None:
        self.split, self.train = split, train

    def __getitem__(self, positions: list[int]) -> tuple[Any, Any, Any]:
        import torch

        from edgekd.data.inputs import to_torch

        ix = np.asarray(positions, dtype=np.int64)
        # augmentation randomness from torch's RNG: seeded in the main process and, in
        # workers, from the base seed torch hands each worker
        augment = self.train and self.split.dense is None
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item())) if augment else None
        x = to_torch(self.split.inputs(ix, self.train, rng))
        y = None if self.split.y is None else torch.from_numpy(self.split.y[ix])
        return x, y, torch.from_numpy(ix)

    def __len__(self) -> int:
        return len(self.split)


def gather(split: Split, batch_size: int = 256) -> Inputs:
    """All of a (small) split's inputs in memory: for calibration sets and tests only."""
    parts = list(split.batches(batch_size))
    if not parts:
        raise DataError(f"the {split.name} split is empty")
    out = concat(parts)
    assert rows(out) == len(split)
    return out


def head(x: Inputs, n: int) -> Inputs:
    return select(x, slice(0, n))
