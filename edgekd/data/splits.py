"""Stratified train/val/test/calibration split, refused when the data cannot fill it.

A classifier needs at least two classes, and every class needs at least one sample in each
of train, val and test (stratified splits, so a metric on val or test covers every class);
the calibration split is drawn from train and needs ``data.calib_samples`` samples. Data
that cannot meet this is a ``DataError`` that states the minimum, never a silent 6/2/2 split
or a one-class "classifier". Split sizes follow scikit-learn's ``train_test_split``
(``n_test = ceil(test_size * n)``), which does the splitting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgekd.data.config import DataConfig
from edgekd.errors import DataError


@dataclass
class SplitIndices:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    calib: np.ndarray


def split_sizes(n: int, cfg: DataConfig) -> tuple[int, int, int]:
    """(train, val, test) sizes ``train_test_split`` gives for ``n`` samples: test first, then
    val from the rest at ``val_fraction / (1 - test_fraction)``."""
    n_test = math.ceil(cfg.test_fraction * n)
    rest = n - n_test
    n_val = math.ceil(cfg.val_fraction / (1 - cfg.test_fraction) * rest)
    return rest - n_val, n_val, n_test


def min_samples(k: int, cfg: DataConfig) -> int:
    """The fewest samples for which train, val and test can each hold ``k`` (one per class)."""
    n = 3 * k
    while min(split_sizes(n, cfg)) < k:
        n += 1
    return n


def split_indices(
    y: np.ndarray, cfg: DataConfig, where: str, names: list[str] | None = None
) -> SplitIndices:
    """Stratified, seeded split of labels ``y`` (integers 0..K-1); ``where`` names the data
    (a file, or ``data.source=iris``) and ``names`` the classes in errors."""
    from sklearn.model_selection import train_test_split

    counts = check_classes(y, where, names)
    k, n = len(counts), len(y)

    def label(c: int) -> str:
        return _label(c, names)

    sizes = split_sizes(n, cfg)
    fractions = f"data.test_fraction={cfg.test_fraction:g}, data.val_fraction={cfg.val_fraction:g}"
    if min(sizes) < k:
        raise DataError(
            f"{where}: {n} samples are too few to split into train/val/test with {fractions} "
            f"({sizes[0]}/{sizes[1]}/{sizes[2]}): each split needs at least one sample of "
            f"each of the {k} classes, so at least {min_samples(k, cfg)} samples"
        )
    if counts.min() < 3:
        rare = int(np.argmin(counts))
        raise DataError(
            f"{where}: class {label(rare)} has only {int(counts[rare])} sample(s); every class "
            "needs at least 3, one in each of train/val/test: add samples of that class or "
            "drop it"
        )
    idx = np.arange(n)
    try:
        rest, test = train_test_split(
            idx, test_size=cfg.test_fraction, random_state=cfg.seed, stratify=y
        )
        val_share = cfg.val_fraction / (1 - cfg.test_fraction)
        train, val = train_test_split(
            rest, test_size=val_share, random_state=cfg.seed, stratify=y[rest]
        )
    except ValueError as exc:  # a class too rare for the stratified sizes
        raise DataError(
            f"{where}: cannot make stratified train/val/test splits with {fractions}: {exc}"
        ) from None
    for name, part in (("train", train), ("val", val), ("test", test)):
        absent = np.setdiff1d(np.arange(k), y[part])
        if len(absent):
            c = int(absent[0])
            raise DataError(
                f"{where}: class {label(c)} has {int(counts[c])} samples and none landed in the "
                f"{name} split ({fractions}); every class needs at least one sample in each "
                "of train/val/test: add samples of that class or raise the fractions"
            )
    if len(train) < cfg.calib_samples:
        raise DataError(
            f"{where}: data.calib_samples is {cfg.calib_samples} but the train split, which "
            f"the calibration samples are drawn from, has only {len(train)} "
            f"({n} samples: {len(train)} train / {len(val)} val / {len(test)} test); "
            f"set data.calib_samples (and quantize.calib_samples) to at most {len(train)}, "
            "or add data"
        )
    calib = np.random.default_rng(cfg.seed).permutation(train)[: cfg.calib_samples]
    return SplitIndices(train, val, test, calib)


def _label(c: int, names: list[str] | None) -> str:
    """Class ``c`` as the user wrote it: its name when the labels were strings."""
    return repr(names[c]) if names and c < len(names) and names[c] != str(c) else str(c)


def check_classes(y: np.ndarray, where: str, names: list[str] | None = None) -> np.ndarray:
    """Samples per class for labels 0..K-1; refuses no data, one class and absent classes."""
    if len(y) == 0:
        raise DataError(f"{where}: no samples")
    labels, counts = np.unique(y, return_counts=True)
    if len(labels) < 2:
        only = _label(int(labels[0]), names)
        got = "the only sample has" if len(y) == 1 else f"all {len(y)} samples have"
        raise DataError(
            f"{where}: {got} label {only}; a classifier needs samples of at least 2 classes"
        )
    k = int(labels[-1]) + 1
    if len(labels) < k:  # integer labels 0..K-1 kept as they are, with gaps
        absent = np.setdiff1d(np.arange(min(k, len(labels) + 5)), labels)[:5]
        more = ", ..." if k - len(labels) > len(absent) else ""
        raise DataError(
            f"{where}: labels go up to {k - 1} but only {len(labels)} distinct labels occur "
            f"(no samples of class {', '.join(map(str, absent))}{more}): integer labels must "
            "be 0..K-1 with every class present (relabel them, or store them as strings)"
        )
    return counts


def named_split_indices(
    y: np.ndarray,
    named: dict[str, np.ndarray],
    cfg: DataConfig,
    where: str,
    names: list[str] | None = None,
) -> SplitIndices:
    """Splits a source names (``train``, and ``val``/``test`` when it has them); a missing
    one is carved from train, stratified by ``cfg.seed``; calibration comes from train."""
    from sklearn.model_selection import train_test_split

    check_classes(y, where, names)
    train = named["train"]
    parts = {"val": named.get("val"), "test": named.get("test")}
    for name in ("test", "val"):
        if parts[name] is not None:
            continue
        share = cfg.test_fraction if name == "test" else cfg.val_fraction
        try:
            train, parts[name] = train_test_split(
                train, test_size=share, random_state=cfg.seed, stratify=y[train]
            )
        except ValueError as exc:
            raise DataError(
                f"{where}: no {name} split, and the train split cannot give one stratified "
                f"(data.{name}_fraction={share:g}): {exc}"
            ) from None
    for name, part in (("train", train), ("val", parts["val"]), ("test", parts["test"])):
        assert part is not None
        if len(part) == 0:
            raise DataError(f"{where}: the {name} split is empty")
    if len(train) < cfg.calib_samples:
        raise DataError(
            f"{where}: data.calib_samples is {cfg.calib_samples} but the train split has only "
            f"{len(train)}; set data.calib_samples (and quantize.calib_samples) to at most "
            f"{len(train)}"
        )
    calib = np.random.default_rng(cfg.seed).permutation(train)[: cfg.calib_samples]
    val, test = parts["val"], parts["test"]
    assert val is not None and test is not None
    return SplitIndices(np.asarray(train), np.asarray(val), np.asarray(test), calib)
