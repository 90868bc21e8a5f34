"""Calibration and evaluation data for any input signature.

Data is one array per model input, keyed by input name in an ``.npz`` (a single array ``x``
still works for a single-input model), each with one row per sample on axis 0:

- an input with a symbolic first (batch) dim, ``(N, C, H, W)``: array ``(rows, C, H, W)``;
  rows are fed in batches;
- an input whose dims are all fixed, ``(1, 3, 224, 224)`` or a state ``(2, 1, 64)``: array
  ``(rows, *dims)``, or ``(rows, *dims[1:])`` when the first dim is 1; rows are fed one by
  one (a fixed batch of 1 cannot take more);
- a scalar input (a sample rate): array ``(rows,)``.

Every array is checked against its input (dtype kind, shape, row count) before any work; an
error prints the whole expected signature.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekd.errors import DataError
from edgekd.profile.shapes import InputSpec

BATCH = 32  # rows per calibration / evaluation batch when every input has a batch axis


@dataclass
class Samples:
    """Rows of inputs for a model: ``arrays`` by input name, all with ``len(self)`` rows."""

    specs: list[InputSpec]
    arrays: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values()))) if self.arrays else 0

    def take(self, rows: slice | np.ndarray) -> Samples:
        return Samples(self.specs, {k: v[rows] for k, v in self.arrays.items()})

    @property
    def batched(self) -> bool:
        """True when every input has a free batch axis (rows can be stacked)."""
        return all(len(s.dims) >= 1 and not isinstance(s.dims[0], int) for s in self.specs)

    def feeds(self, batch: int = BATCH) -> Iterator[dict[str, np.ndarray]]:
        """Feed dicts in order: ``batch`` rows at a time, or one row at a time."""
        if self.batched:
            for i in range(0, len(self), batch):
                yield {s.name: self.arrays[s.name][i : i + batch] for s in self.specs}
            return
        for i in range(len(self)):
            yield {s.name: _one_row(s, self.arrays[s.name][i]) for s in self.specs}


def _one_row(spec: InputSpec, row: np.ndarray) -> np.ndarray:
    """One row shaped as the input's full tensor (a batch axis added where the input has one)."""
    if not spec.dims:
        return np.asarray(row, dtype=row.dtype).reshape(())
    if tuple(row.shape) == _fixed(spec.dims):
        return row
    return row[None]


def _fixed(dims: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(d if isinstance(d, int) else None for d in dims)


def signature_text(specs: list[InputSpec]) -> str:
    """``images float32 (N, 3, H, W); sr int64 ()`` for error messages."""
    return "; ".join(s.signature() for s in specs)


def read_arrays(path: Path, what: str) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file (no pickles); a bad file is a ``DataError``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what}: file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: np.asarray(npz[k]) for k in npz.files}
    except Exception as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None


def as_samples(
    source: str | Path | np.ndarray | Mapping[str, np.ndarray],
    specs: list[InputSpec],
    what: str,
    given: Mapping[str, list[int]] | None = None,
) -> Samples:
    """Check ``source`` (an .npz path, one array, or arrays by input name) against ``specs``."""
    label = f"{what} {source}" if isinstance(source, (str, Path)) else what
    if isinstance(source, (str, Path)):
        arrays = read_arrays(Path(source), what)
    elif isinstance(source, np.ndarray):
        arrays = {"x": source}
    else:
        arrays = dict(source)
    names = [s.name for s in specs]
    if len(specs) == 1 and names[0] not in arrays and "x" in arrays:
        arrays = {names[0]: arrays["x"], **{k: v for k, v in arrays.items() if k != "x"}}
    missing = [n for n in names if n not in arrays]
    expected = f"expected one array per model input, rows first: {signature_text(specs)}"
    if missing:
        found = ", ".join(sorted(arrays)) or "nothing"
        raise DataError(
            f"{label}: no array for input(s) {', '.join(missing)} ({expected}; found {found})"
        )
    out = {
        s.name: _check(s, arrays[s.name], label, expected, (given or {}).get(s.name)) for s in specs
    }
    rows = {n: len(a) for n, a in out.items()}
    if len(set(rows.values())) > 1:
        raise DataError(f"{label}: arrays have different numbers of rows {rows} ({expected})")
    return Samples(list(specs), out)


def _check(
    spec: InputSpec, a: np.ndarray, label: str, expected: str, given: list[int] | None
) -> np.ndarray:
    a = np.asarray(a)
    want = np.dtype(spec.dtype)
    if want.kind == "f":
        ok = a.dtype.kind in "fiu"
    elif want.kind in "iu":
        ok = a.dtype.kind in "iu"
    else:
        ok = a.dtype.kind == want.kind
    if not ok:
        raise DataError(
            f"{label}: array {spec.name!r} is {a.dtype}, the input is {spec.dtype} ({expected})"
        )
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise DataError(f"{label}: array {spec.name!r} has NaN or inf")
    if a.ndim == 0 or len(a) == 0:
        raise DataError(f"{label}: array {spec.name!r} has no rows ({expected})")
    dims = list(spec.dims)
    if given and len(given) == len(dims):  # sizes for symbolic dims; the batch stays free
        dims = [
            d if isinstance(d, int) or k == 0 else g
            for k, (d, g) in enumerate(zip(dims, given, strict=True))
        ]
    row = tuple(a.shape[1:])
    if not _row_fits(row, dims):
        shown = (
            "(N, " + ", ".join("?" if not isinstance(d, int) else str(d) for d in dims[1:]) + ")"
        )
        if dims and isinstance(dims[0], int):
            full = "(N, " + ", ".join("?" if not isinstance(d, int) else str(d) for d in dims) + ")"
            shown = f"{full}" + (f" or {shown}" if dims[0] == 1 else "")
        if not dims:
            shown = "(N,)"
        raise DataError(
            f"{label}: array {spec.name!r} has shape {tuple(a.shape)}; input {spec.name!r} "
            f"expects {shown} ({expected})"
        )
    return a.astype(want, copy=False)


def _row_fits(row: tuple[int, ...], dims: list[Any]) -> bool:
    """Does one row (shape without axis 0) fit an input with ``dims``?"""

    def match(shape: tuple[int, ...], ds: list[Any]) -> bool:
        return len(shape) == len(ds) and all(
            not isinstance(d, int) or d == s for d, s in zip(ds, shape, strict=True)
        )

    if not dims:
        return row == ()
    if not isinstance(dims[0], int):  # free batch: rows stack along it
        return match(row, dims[1:])
    return match(row, dims) or (dims[0] == 1 and match(row, dims[1:]))


def split_rows(
    samples: Samples, calib_rows: int, held_out: Samples | None
) -> tuple[Samples, Samples, str]:
    """(calibration rows, held-out rows for the output-error guard, how they were chosen).

    Held-out rows are ``held_out`` when given (the labelled validation rows); else the rows
    after the first ``calib_rows``; else, when the file has no more rows than that, the last
    eighth of them (at least one), which calibration then does not see.
    """
    n = len(samples)
    if held_out is not None:
        return samples.take(slice(0, calib_rows)), held_out, "validation rows"
    if n > calib_rows:
        end = min(n, calib_rows + 256)
        how = f"rows {calib_rows}-{end - 1} of the calibration data (not used to calibrate)"
        return samples.take(slice(0, calib_rows)), samples.take(slice(calib_rows, end)), how
    hold = max(1, n // 8) if n > 1 else 0
    if hold == 0:
        return samples, samples, "the single calibration row (nothing to hold out)"
    how = f"the last {hold} of {n} calibration rows (calibration uses the first {n - hold})"
    return samples.take(slice(0, n - hold)), samples.take(slice(n - hold, n)), how
