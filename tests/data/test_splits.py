"""Data too small to split is refused through the real CLI: exit 2, one message naming the
file (or built-in source) and the minimum it needs."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgekd.data.config import DataConfig
from edgekd.data.loaders import load_data
from edgekd.data.splits import min_samples, split_sizes
from edgekd.errors import DataError


def npz(tmp_path, name: str, y, features: int = 4):
    path = tmp_path / name
    x = np.random.default_rng(0).normal(size=(len(y), features)).astype(np.float32)
    np.savez(path, x=x, y=np.asarray(y))
    return path


def compress(cli, tmp_path, *sets: str):
    args = ["compress", "--out", str(tmp_path / "runs"), "--quiet"]
    for s in sets:
        args += ["--set", s]
    return cli(*args)


@pytest.mark.parametrize(
    "labels, expected",
    [
        ([0], r"one\.npz: the only sample has label 0; a classifier needs samples of at least 2"),
        ([3] * 40, r"one\.npz: all 40 samples have label 3; a classifier needs samples of at"),
        (
            [0, 1] * 5,
            r"one\.npz: data\.calib_samples is 128 but the train split, .* has only 6 "
            r"\(10 samples: 6 train / 2 val / 2 test\); set data\.calib_samples .* at most 6",
        ),
        (
            [0, 1, 2] * 4,
            r"one\.npz: 12 samples are too few .* \(7/2/3\): each split needs at least one "
            r"sample of each of the 3 classes, so at least 14 samples",
        ),
        (
            [0] * 30 + [1] * 30 + [2] * 2,
            r"one\.npz: class 2 has only 2 sample\(s\); every class needs at least 3, one in each",
        ),
        ([0, 2] * 20, r"one\.npz: labels go up to 2 but only 2 distinct .*no samples of class 1\)"),
    ],
    ids=["one-sample", "one-class", "calibration", "too-few", "rare-class", "label-gap"],
)
def test_npz_that_cannot_be_split_exits_2_naming_the_file(cli, tmp_path, labels, expected):
    path = npz(tmp_path, "one.npz", labels)
    r = compress(cli, tmp_path, "data.source=npz", f"data.path={path}")
    assert r.exit_code == 2, r.stderr
    assert r.stderr.count("error:") == 1 and "Traceback" not in r.stderr
    assert str(path) in r.stderr
    assert __import__("re").search(expected, r.stderr), r.stderr


def test_csv_with_one_class_and_a_rare_named_class_exit_2(cli, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,label\n" + "".join(f"{i},cat\n" for i in range(20)))
    r = compress(cli, tmp_path, "data.source=csv", f"data.path={path}")
    assert r.exit_code == 2 and "all 20 samples have label 'cat'" in r.stderr, r.stderr
    path.write_text("a,label\n" + "".join(f"{i},{'dog' if i < 2 else 'cat'}\n" for i in range(40)))
    r = compress(cli, tmp_path, "data.source=csv", f"data.path={path}")
    assert r.exit_code == 2 and "class 'dog' has only 2 sample(s)" in r.stderr, r.stderr


def test_builtin_source_too_small_for_the_calibration_split_exits_2(cli, tmp_path):
    r = compress(cli, tmp_path, "data.source=iris", "student.arch=mlp")
    assert r.exit_code == 2
    assert "data.source=iris: data.calib_samples is 128" in r.stderr
    assert "has only 97 (150 samples: 97 train / 23 val / 30 test)" in r.stderr


def test_fractions_that_leave_no_train_split_are_a_recipe_error(cli, tmp_path):
    r = compress(cli, tmp_path, "data.test_fraction=0.5", "data.val_fraction=0.5")
    assert r.exit_code == 2
    assert "test_fraction (0.5) + val_fraction (0.5) must be below 1" in r.stderr


def test_smallest_splittable_data_is_split_with_every_class_everywhere(tmp_path):
    cfg = DataConfig(source="npz", calib_samples=4)
    n = min_samples(3, cfg)
    assert min(split_sizes(n, cfg)) >= 3 and min(split_sizes(n - 1, cfg)) < 3
    labels = np.arange(n) % 3
    d = load_data(cfg.model_copy(update={"path": npz(tmp_path, "s.npz", labels)}))
    for split in (d.train, d.val, d.test):
        assert set(split.y.tolist()) == {0, 1, 2}
    assert len(d.calib) == 4 and d.num_classes == 3
    d = load_data(DataConfig(source="iris", calib_samples=97))
    assert (len(d.train), len(d.val), len(d.test), len(d.calib)) == (97, 23, 30, 97)


def test_npz_labels_must_be_one_per_row_and_finite(tmp_path):
    for y, expected in [
        (np.eye(3)[np.arange(30) % 3], r"'y' must be a 1-D array .* \(one-hot\? store y\.argmax"),
        (np.where(np.arange(30) == 7, np.nan, np.arange(30) % 3), "NaN or infinite at row 7"),
    ]:
        path = npz(tmp_path, "y.npz", y)
        with pytest.raises(DataError, match=expected):
            load_data(DataConfig(source="npz", path=path, calib_samples=4))


def test_csv_integer_labels_keep_their_numeric_order(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,label\n" + "".join(f"{i},{i % 12}\n" for i in range(240)))
    d = load_data(DataConfig(source="csv", path=path, calib_samples=8))
    assert d.class_names == [str(i) for i in range(12)]  # "10" is class 10, not class 2
    raw = np.asarray([float(r.split(",")[0]) for r in path.read_text().split()[1:]])
    assert np.array_equal(np.asarray(sorted(set((raw % 12).astype(int)))), np.arange(12))


@st.composite
def arrays(draw: st.DrawFn) -> dict[str, np.ndarray]:
    """x and y of random dtypes, shapes and values (NaN, inf, huge, empty, one class...);
    half of them plain float features with labels 0..2, which often split."""
    if draw(st.booleans()):
        n = draw(st.integers(14, 40))
        x = draw(hnp.arrays("f4", (n, 3), elements=st.floats(-1e3, 1e3, width=32)))
        return {"x": x, "y": draw(hnp.arrays("i8", (n,), elements=st.integers(0, 2)))}
    n = draw(st.integers(0, 40))
    x_dtype = draw(st.sampled_from(["f4", "f8", "i8", "u1", "?", "c8", "U3"]))
    x_shape = (n, *draw(st.lists(st.integers(0, 3), min_size=0, max_size=3)))
    x = draw(hnp.arrays(x_dtype, x_shape, elements=None if x_dtype != "f8" else st.floats()))
    out = {"x": x}
    if draw(st.booleans()):
        y_dtype = draw(st.sampled_from(["i8", "f8", "U2", "?"]))
        y_shape = draw(st.sampled_from([(n,), (n, 2), (max(n - 1, 0),)]))
        labels = st.integers(-2, 4) if y_dtype == "i8" else None
        out["y"] = draw(hnp.arrays(y_dtype, y_shape, elements=labels))
    return out


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(arrays=arrays())
def test_any_npz_arrays_split_with_every_class_everywhere_or_name_the_file(tmp_path, arrays):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    try:
        d = load_data(DataConfig(source="npz", path=path, calib_samples=3))
    except DataError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc), str(exc)
        return
    k = d.num_classes
    for split in (d.train, d.val, d.test):
        assert set(split.y.tolist()) == set(range(k)) and np.isfinite(split.x).all()
    assert len(d.calib) == 3 and k >= 2
