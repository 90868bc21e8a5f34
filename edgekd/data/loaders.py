"""Load a dataset, split it (stratified, deterministic by seed) and attach its preprocessing.

A source (``edgekd.data.sources.SOURCES``) gives raw examples and labels; the splits hold
positions into them and a *view* (``edgekd.data.dataset.View``) that preprocesses a batch:
normalization for arrays, resize/crop/normalize for images, a tokenizer for text. The
statistics come from the train split only, and the view's description travels with the
artifacts (``DataSplits.preprocess``, saved as ``preprocess.json``), so every runtime sees the
same inputs. Small array data keeps its normalized splits in memory (``Split.x``); images and
text are read batch by batch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekd.data.config import DataConfig
from edgekd.data.dataset import Split, View
from edgekd.data.inputs import InputSpec
from edgekd.data.splits import SplitIndices, split_indices
from edgekd.errors import DataError
from edgekd.fileio import sha256_bytes

if TYPE_CHECKING:
    from edgekd.data.sources import Raw

FLOAT32_MAX = float(np.finfo(np.float32).max)
SPLITS = ("train", "val", "test", "calib")


@dataclass
class DataSplits:
    """The run's data: four splits sharing one preprocessing (``preprocess``, the student's
    view), plus the teacher's view when the teacher sees other inputs (``teacher_view``)."""

    train: Split
    val: Split
    test: Split
    calib: Split
    num_classes: int
    input_shape: tuple[int, ...]
    preprocess: dict[str, Any]
    hash: str
    name: str
    class_names: list[str] = field(default_factory=list)
    kind: str = "array"
    teacher_view: View | None = None

    def specs(self) -> list[InputSpec]:
        """The model inputs (name, dtype, per-example shape), in positional order."""
        return self.train.specs()

    def for_teacher(self, split: str) -> Split:
        """The split as the teacher sees it (its own image size or tokenizer)."""
        part: Split = getattr(self, split)
        return part if self.teacher_view is None else part.with_view(self.teacher_view)

    @property
    def teacher_input_shape(self) -> tuple[int, ...]:
        """One example's shape as the teacher sees it."""
        view = self.teacher_view
        return self.input_shape if view is None else view.specs()[0].shape

    @property
    def teacher_preprocess(self) -> dict[str, Any]:
        return self.preprocess if self.teacher_view is None else self.teacher_view.to_json()


def load_data(cfg: DataConfig | None = None) -> DataSplits:
    """Load and split the data the ``data`` section describes."""
    cfg = cfg or DataConfig()
    return build_splits(_load_raw(cfg), cfg)


def split_and_normalize(
    x: np.ndarray, y: np.ndarray, cfg: DataConfig, class_names: list[str]
) -> DataSplits:
    """Arrays already in memory (inputs, labels 0..K-1), split and normalized."""
    return build_splits(array_raw(x, y, class_names, cfg), cfg)


def array_raw(x: np.ndarray, y: np.ndarray, class_names: list[str], cfg: DataConfig) -> Raw:
    """Raw examples of in-memory array data."""
    from edgekd.data.sources import Raw

    x = np.ascontiguousarray(x, dtype=np.float32)
    digest = sha256_bytes(x.tobytes(), y.astype(np.int64).tobytes())
    where = f"data.source={cfg.source}" if cfg.path is None else str(cfg.path)
    return Raw(ArrayRows(x), y.astype(np.int64), class_names, "array", where, digest, dense=x)


def build_splits(raw: Raw, cfg: DataConfig) -> DataSplits:
    """Split ``raw`` (stratified by seed, or by the source's named splits) and attach the
    views: the student's and, when it differs, the teacher's."""
    from edgekd.data.views import make_views

    ix = _positions(raw, cfg)
    view, teacher_view = make_views(raw, ix.train, cfg)
    dense = None
    if raw.dense is not None:
        dense = np.asarray(view.batch(raw.dense, False, np.random.default_rng(0)))  # type: ignore[arg-type]

    def make(name: str, positions: np.ndarray, labeled: bool = True) -> Split:
        return Split(
            raw.examples,
            positions,
            raw.labels[positions] if labeled else None,
            view,
            dense=None if dense is None else dense[positions],
            name=name,
            workers=cfg.workers,
        )

    digest = sha256_bytes(
        raw.digest.encode(),
        repr(cfg.model_dump(mode="json")).encode(),
        repr(view.to_json()).encode(),
        repr(None if teacher_view is None else teacher_view.to_json()).encode(),
        getattr(view, "fingerprint", b""),
        getattr(teacher_view, "fingerprint", b""),
    )
    specs = view.specs()
    return DataSplits(
        train=make("train", ix.train, labeled=not cfg.unlabeled),
        val=make("val", ix.val),
        test=make("test", ix.test),
        calib=make("calib", ix.calib),
        num_classes=int(raw.labels.max()) + 1,
        input_shape=specs[0].shape,
        preprocess=view.to_json(),
        hash=digest,
        name=cfg.source if cfg.path is None else Path(cfg.path).name,
        class_names=raw.class_names,
        kind=raw.kind,
        teacher_view=teacher_view,
    )


def _positions(raw: Raw, cfg: DataConfig) -> SplitIndices:
    """The source's named splits where it has them; the rest drawn stratified by seed."""
    if not raw.named or set(raw.named) == {"train"}:
        return split_indices(raw.labels, cfg, raw.where, raw.class_names)
    from edgekd.data.splits import named_split_indices

    return named_split_indices(raw.labels, raw.named, cfg, raw.where, raw.class_names)


@dataclass(frozen=True)
class ArrayRows:
    """Rows of an in-memory array."""

    x: np.ndarray

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def get(self, i: int) -> np.ndarray:
        return self.x[i]


def _load_raw(cfg: DataConfig) -> Raw:
    from edgekd.data.sources import SOURCES

    source = SOURCES[cfg.source]
    if source.needs_path:
        if cfg.path is None:
            raise DataError(f"data.path: required when data.source is {cfg.source!r}")
        p = Path(cfg.path)
        ok = {"file": p.is_file(), "dir": p.is_dir(), "any": p.exists()}[source.path_kind]
        if not ok:
            what = {"file": "file", "dir": "directory", "any": "file or directory"}
            raise DataError(f"data.path: {what[source.path_kind]} not found: {p}")
    return source.load(cfg)


def load_builtin(name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from sklearn import datasets

    loader = {
        "digits": datasets.load_digits,
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
        "iris": datasets.load_iris,
    }[name]
    bunch = loader()
    x = bunch.data.astype(np.float32)
    if name == "digits":
        x = x.reshape(-1, 1, 8, 8)
    return x, bunch.target.astype(np.int64), [str(n) for n in bunch.target_names]


def read_npz(
    path: Path, what: str = "data", need_y: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Array ``x`` (numeric, finite, (N, ...), as float32) and ``y`` (None if absent) from an
    .npz file; a ``DataError`` names the file (``what`` names the option it came from)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what}: file not found: {path}")
    try:
        arrays = np.load(path, allow_pickle=False)
        files = set(arrays.files)
        x = np.asarray(arrays["x"]) if "x" in files else None
        y = np.asarray(arrays["y"]) if "y" in files else None
    except Exception as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    if x is None:
        raise DataError(f"{path}: expected an array named 'x' (found {sorted(files)})")
    if x.dtype.kind not in "iuf" or x.ndim < 2 or 0 in x.shape[1:]:
        raise DataError(
            f"{path}: 'x' must be a real-valued (N, ...) array with at least one feature, "
            f"got {x.dtype} {x.shape}"
        )
    x32 = x.astype(np.float32)
    if not np.all(np.isfinite(x32)):
        row = int(np.argwhere(~np.isfinite(x32.reshape(len(x32), -1)))[0][0])
        raise DataError(f"{path}: array 'x' has NaN or inf at row {row} (as float32: |x| < 3.4e38)")
    if y is None and need_y:
        raise DataError(f"{path}: expected a label array named 'y' (found {sorted(files)})")
    if y is not None and len(y) != len(x):
        raise DataError(f"{path}: 'x' has {len(x)} rows but 'y' has {len(y)}")
    if need_y and y is not None:
        check_labels(y, path)
    return x32, y


def check_labels(y: np.ndarray, path: Path) -> None:
    """Labels are one per row (1-D), integers, floats or strings, none NaN."""
    if y.ndim != 1:
        hint = " (one-hot? store y.argmax(1))" if y.ndim == 2 else ""
        raise DataError(f"{path}: 'y' must be a 1-D array of labels, got shape {y.shape}{hint}")
    if y.dtype.kind not in "biufUS":
        raise DataError(f"{path}: 'y' must hold integer, float or string labels, got {y.dtype}")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        row = int(np.argwhere(~np.isfinite(y))[0][0])
        raise DataError(f"{path}: label 'y' is NaN or infinite at row {row}")


def load_npz(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    x, y = read_npz(path, "data.path", need_y=True)
    assert y is not None
    labels, names = encode_labels(y)
    return x, labels, names


def load_csv(path: Path, label_column: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    import csv

    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not UTF-8 text (byte {exc.start}); expected a CSV file with a header row"
        ) from None
    except csv.Error as exc:
        raise DataError(f"{path}: not a readable CSV file ({exc})") from None
    if not rows:
        raise DataError(f"{path}: the CSV file is empty")
    header, body = rows[0], rows[1:]
    if label_column not in header:
        raise DataError(
            f"{path}: no label column {label_column!r} (columns: {', '.join(header)}); "
            "set data.label_column"
        )
    li = header.index(label_column)
    feats = [i for i in range(len(header)) if i != li]
    if not feats:
        raise DataError(f"{path}: no feature columns besides the label column {label_column!r}")
    x = np.empty((len(body), len(feats)), np.float32)
    labels = []
    for r, row in enumerate(body):
        line = r + 2  # 1-based, after the header
        if len(row) != len(header):
            raise DataError(f"{path}: row {line} has {len(row)} fields, expected {len(header)}")
        for j, i in enumerate(feats):
            try:
                v = float(row[i])
            except ValueError:
                raise DataError(
                    f"{path}: row {line}, column {header[i]!r}: {row[i]!r} is not a number"
                ) from None
            if not abs(v) <= FLOAT32_MAX:  # NaN, inf, or inf once stored as float32
                raise DataError(
                    f"{path}: row {line}, column {header[i]!r} is NaN or infinite in float32 "
                    f"({row[i]!r})"
                )
            x[r, j] = v
        if row[li].strip() == "" or row[li].strip().lower() == "nan":
            raise DataError(f"{path}: row {line}, column {label_column!r}: missing label")
        labels.append(row[li].strip())
    as_ints = [int(v) for v in labels if re.fullmatch(r"-?[0-9]{1,18}", v)]  # int64 range
    y, names = encode_labels(np.asarray(as_ints if len(as_ints) == len(labels) else labels))
    return x, y, names


def encode_labels(y: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Integer labels 0..K-1 stay as they are; anything else is mapped in sorted order."""
    if np.issubdtype(y.dtype, np.integer) and y.min() >= 0:
        return y.astype(np.int64), [str(i) for i in range(int(y.max()) + 1)]
    if y.dtype.kind in "fiu":
        as_int = y.astype(np.int64)
        if np.array_equal(as_int, y) and as_int.min() >= 0:
            return as_int, [str(i) for i in range(int(as_int.max()) + 1)]
    names, codes = np.unique(y.astype(str), return_inverse=True)
    return codes.astype(np.int64), [str(n) for n in names]
