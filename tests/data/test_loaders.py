import numpy as np
import pytest

from edgekd.data.config import DataConfig
from edgekd.data.loaders import load_data
from edgekd.errors import DataError


def test_digits_split_is_deterministic_stratified_and_normalized_from_train():
    a, b = load_data(DataConfig(seed=3)), load_data(DataConfig(seed=3))
    assert np.array_equal(a.test.x, b.test.x) and a.hash == b.hash
    assert (len(a.train), len(a.val), len(a.test)) == (1167, 270, 360)
    assert a.input_shape == (1, 8, 8) and a.num_classes == 10
    # stratified: every class present in every split in near-equal shares
    for s in (a.train, a.val, a.test):
        counts = np.bincount(s.y, minlength=10)
        assert counts.min() >= 0.8 * counts.mean()
    # train statistics: the normalized train split has mean 0, std 1 (per channel)
    assert abs(float(a.train.x.mean())) < 1e-5 and abs(float(a.train.x.std()) - 1) < 1e-4
    assert abs(float(a.test.x.mean())) > 1e-4  # test was not normalized by its own stats
    c = load_data(DataConfig(seed=4))
    assert c.hash != a.hash and not np.array_equal(c.test.x, a.test.x)


def test_npz_and_csv_files(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5)).astype(np.float32)
    y = np.repeat(np.arange(3), 20)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    d = load_data(DataConfig(source="npz", path=tmp_path / "d.npz", calib_samples=16))
    assert d.input_shape == (5,) and d.num_classes == 3
    rows = ["f1,f2,species"] + [
        f"{a:.3f},{b:.3f},{'cat' if k else 'dog'}"
        for (a, b), k in zip(x[:, :2], y % 2, strict=True)
    ]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    c = load_data(
        DataConfig(source="csv", path=tmp_path / "d.csv", label_column="species", calib_samples=16)
    )
    assert c.input_shape == (2,) and c.class_names == ["cat", "dog"]


def test_csv_with_nan_names_row_and_column(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,0\n3,nan,1\n")
    with pytest.raises(DataError, match=r"row 3, column 'b' is NaN"):
        load_data(DataConfig(source="csv", path=tmp_path / "d.csv"))


def test_csv_without_label_column_names_it_and_lists_columns(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,target\n1,2,0\n")
    with pytest.raises(DataError, match=r"no label column 'label' \(columns: a, b, target\)"):
        load_data(DataConfig(source="csv", path=tmp_path / "d.csv"))


def test_missing_data_file(tmp_path):
    with pytest.raises(DataError, match="data.path: file not found"):
        load_data(DataConfig(source="npz", path=tmp_path / "missing.npz"))


def test_npz_without_x_is_named(tmp_path):
    np.savez(tmp_path / "d.npz", features=np.zeros((4, 2)))
    with pytest.raises(DataError, match="expected an array named 'x'"):
        load_data(DataConfig(source="npz", path=tmp_path / "d.npz"))


def test_npz_nan_rows_label_mismatch_and_missing_labels_are_named(tmp_path):
    from edgekd.data.loaders import read_npz

    x = np.zeros((4, 3), np.float32)
    x[2, 1] = np.nan
    np.savez(tmp_path / "nan.npz", x=x, y=np.arange(4))
    with pytest.raises(DataError, match=r"nan.npz: array 'x' has NaN or inf at row 2"):
        read_npz(tmp_path / "nan.npz", "--calib")
    np.savez(tmp_path / "short.npz", x=np.zeros((4, 3)), y=np.arange(3))
    with pytest.raises(DataError, match=r"'x' has 4 rows but 'y' has 3"):
        read_npz(tmp_path / "short.npz")
    np.savez(tmp_path / "nolabels.npz", x=np.zeros((4, 3)))
    x_only, y = read_npz(tmp_path / "nolabels.npz", "--calib")
    assert y is None and x_only.dtype == np.float32
    with pytest.raises(DataError, match="expected a label array named 'y'"):
        read_npz(tmp_path / "nolabels.npz", "--val", need_y=True)
    with pytest.raises(DataError, match=r"--val: file not found"):
        read_npz(tmp_path / "absent.npz", "--val")


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"a,label\n\xff\xfe1,0\n", r"d.csv: not UTF-8 text \(byte 8\); expected a CSV file"),
        (b"a,label\n" + b"1" * 200_000 + b",0\n", r"d.csv: not a readable CSV file \(field larger"),
        (b"label\n0\n1\n", r"d.csv: no feature columns besides the label column 'label'"),
        (b"a,label\n1e39,0\n", r"d.csv: row 2, column 'a' is NaN or infinite in float32"),
    ],
    ids=["not-utf8", "huge-field", "no-features", "float32-overflow"],
)
def test_csv_that_is_not_a_table_of_numbers_is_named(tmp_path, content, expected):
    """Each was an exit 1 (UnicodeDecodeError, csv.Error) or a silent inf before."""
    (tmp_path / "d.csv").write_bytes(content)
    with pytest.raises(DataError, match=expected):
        load_data(DataConfig(source="csv", path=tmp_path / "d.csv"))
