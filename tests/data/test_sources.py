"""The streaming sources: image folders, text files and Hugging Face datasets on disk."""

from __future__ import annotations

import numpy as np
import pytest

from edgekd.data.config import DataConfig
from edgekd.data.loaders import load_data
from edgekd.errors import DataError
from tests.data.fixtures import image_folder, labelled_texts, word_tokenizer, write_jsonl


def image_cfg(path, **image):
    return DataConfig(source="imagefolder", path=path, calib_samples=4,
                      image={"size": 32, **image})  # fmt: skip


def test_imagefolder_splits_views_and_preprocess(tmp_path):
    data = load_data(image_cfg(image_folder(tmp_path / "imgs", per_class=8), teacher_size=48))
    assert data.kind == "image" and data.class_names == ["c0", "c1", "c2"]
    assert len(data.train) + len(data.val) + len(data.test) == 24
    assert {int(c) for c in data.test.y} == {0, 1, 2}  # stratified
    x = data.val.take(3)
    assert x.shape == (3, 3, 32, 32) and x.dtype == np.float32
    # normalization from the train split: roughly zero-mean over the train images
    train = np.concatenate(list(data.train.batches(5)))
    assert abs(float(train.mean())) < 0.2
    assert data.preprocess["image_size"] == [32, 32] and len(data.preprocess["mean"]) == 3
    # the teacher sees the same images at its own size
    assert data.for_teacher("val").take(2).shape == (2, 3, 48, 48)
    assert data.teacher_preprocess["image_size"] == [48, 48]
    # the whole split is never one array
    with pytest.raises(DataError, match="streamed"):
        _ = data.train.x
    # training batches are augmented (random resized crop, flip) but keep the shape
    import torch

    torch.manual_seed(0)
    (xb,), yb, ix = next(iter(data.train.loader(4, shuffle=True, train=True)))
    assert tuple(xb.shape) == (4, 3, 32, 32) and len(yb) == 4 and len(ix) == 4
    plain = data.train.inputs(ix.numpy())
    assert not np.allclose(xb.numpy(), plain)
    # deterministic by seed, different for another seed
    again = load_data(image_cfg(tmp_path / "imgs", teacher_size=48))
    assert np.array_equal(again.test.index, data.test.index) and again.hash == data.hash
    other = load_data(image_cfg(tmp_path / "imgs").model_copy(update={"seed": 1}))
    assert not np.array_equal(other.test.index, data.test.index)


def test_imagefolder_without_class_subfolders(tmp_path):
    image_folder(tmp_path / "imgs")
    flat = tmp_path / "flat"
    flat.mkdir()
    (tmp_path / "imgs" / "c0" / "0.png").rename(flat / "0.png")
    with pytest.raises(DataError, match=rf"{flat}: no class subfolders.*0\.png"):
        load_data(image_cfg(flat))


def test_imagefolder_class_without_images(tmp_path):
    root = image_folder(tmp_path / "imgs")
    (root / "empty").mkdir()
    (root / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match=r"empty: class 'empty' has no images"):
        load_data(image_cfg(root))


def test_unreadable_image_is_named(tmp_path):
    root = image_folder(tmp_path / "imgs")
    bad = root / "c1" / "3.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DataError, match=rf"{bad}: unreadable image"):
        load_data(image_cfg(root))


@pytest.fixture
def text_data(tmp_path):
    rows = labelled_texts(12)
    path = write_jsonl(tmp_path / "texts.jsonl", rows)
    tok = word_tokenizer([t for t, _ in rows], tmp_path / "tok")
    return path, tok, rows


def text_cfg(path, tok, **kw):
    text = {"tokenizer": tok, "max_length": 10, **kw.pop("text", {})}
    return DataConfig(source="text", path=path, calib_samples=4, text=text, **kw)


def test_text_file_in_three_formats(text_data, tmp_path):
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    path, tok, rows = text_data
    table = pa.table({"text": [t for t, _ in rows], "label": [y for _, y in rows]})
    pq.write_table(table, tmp_path / "texts.parquet")
    pcsv.write_csv(table, tmp_path / "texts.csv")
    loaded = [load_data(text_cfg(p, tok)) for p in
              (path, tmp_path / "texts.parquet", tmp_path / "texts.csv")]  # fmt: skip
    first = loaded[0]
    assert first.kind == "text" and first.class_names == ["food", "sport", "weather"]
    x = first.val.take(4)
    assert set(x) == {"input_ids", "attention_mask"}
    assert x["input_ids"].dtype == np.int64 and x["input_ids"].shape == (4, 10)
    assert x["attention_mask"].sum(1).min() >= 3  # every text has at least 3 words
    assert first.preprocess["kind"] == "text" and first.preprocess["max_length"] == 10
    for other in loaded[1:]:  # same texts, same split, same tokens
        assert np.array_equal(other.test.index, first.test.index)
        assert np.array_equal(other.test.take(5)["input_ids"], first.test.take(5)["input_ids"])


@pytest.mark.parametrize("column", ["text_column", "label_column"])
def test_text_file_missing_a_column(text_data, column):
    path, tok, _ = text_data
    field = "text" if column == "text_column" else "label"
    with pytest.raises(
        DataError, match=rf"{path}: no {field} column 'body' \(columns: text, label\)"
    ):
        load_data(text_cfg(path, tok, **{column: "body"}))


def test_empty_text_names_the_row(text_data, tmp_path):
    _, tok, rows = text_data
    rows = list(rows)
    rows[4] = ("   ", rows[4][1])
    path = write_jsonl(tmp_path / "empty.jsonl", rows)
    with pytest.raises(DataError, match=rf"{path}: row 5: empty text in column 'text'"):
        load_data(text_cfg(path, tok))


def test_text_without_tokenizer_says_where_one_comes_from(text_data):
    path, _, _ = text_data
    with pytest.raises(DataError, match="data.text.tokenizer: text data needs a tokenizer"):
        load_data(DataConfig(source="text", path=path, calib_samples=4))


def test_tokenizers_that_split_texts_differently_are_refused(text_data, tmp_path):
    from edgekd.data.text import check_same_tokens

    path, tok, rows = text_data
    other = word_tokenizer(["completely different words"], tmp_path / "other")
    data = load_data(text_cfg(path, tok, text={"tokenizer": tok, "teacher_tokenizer": other}))
    texts = [t for t, _ in rows]
    assert data.teacher_view is not None
    with pytest.raises(DataError, match="split the training text .* differently"):
        check_same_tokens(data.train.view, data.teacher_view, texts, "kd")  # type: ignore[arg-type]
    check_same_tokens(data.train.view, data.train.view, texts, "kd")  # type: ignore[arg-type]


def test_hf_dataset_on_disk_keeps_named_splits(text_data, tmp_path):
    import datasets

    _, tok, rows = text_data
    names = ["food", "sport", "weather"]
    feats = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)}
    )

    def part(rs):
        return datasets.Dataset.from_dict(
            {"text": [t for t, _ in rs], "label": [names.index(y) for _, y in rs]}, features=feats
        )

    dd = datasets.DatasetDict({"train": part(rows[:24]), "test": part(rows[24:])})
    dd.save_to_disk(str(tmp_path / "ds"))
    data = load_data(text_cfg(tmp_path / "ds", tok).model_copy(update={"source": "hf"}))
    assert data.class_names == names
    assert len(data.test) == len(rows) - 24  # the named test split, untouched
    assert len(data.train) + len(data.val) == 24  # val carved from train
    # the same data as Parquet files named by split
    dd["train"].to_parquet(str(tmp_path / "pq" / "train.parquet"))
    dd["test"].to_parquet(str(tmp_path / "pq" / "test.parquet"))
    again = load_data(text_cfg(tmp_path / "pq", tok).model_copy(update={"source": "hf"}))
    assert len(again.test) == len(data.test)
    assert np.array_equal(again.test.take(3)["input_ids"], data.test.take(3)["input_ids"])


def test_hf_without_train_split(tmp_path, text_data):
    _, tok, rows = text_data
    import datasets

    datasets.DatasetDict(
        {"test": datasets.Dataset.from_dict({"text": ["a b c"] * 3, "label": [0, 1, 0]})}
    ).save_to_disk(str(tmp_path / "ds"))
    with pytest.raises(DataError, match="no train split"):
        load_data(text_cfg(tmp_path / "ds", tok).model_copy(update={"source": "hf"}))


def test_preprocess_and_tokenizer_travel_with_the_artifacts(text_data, tmp_path):
    from edgekd.data.text import TextView, load_tokenizer
    from edgekd.data.views import save_preprocess

    path, tok, _ = text_data
    data = load_data(text_cfg(path, tok))
    written = save_preprocess(data, tmp_path / "run")
    assert written["inputs"] == [
        {"name": "input_ids", "dtype": "int64", "shape": [10]},
        {"name": "attention_mask", "dtype": "int64", "shape": [10]},
    ]
    again = TextView(load_tokenizer(tmp_path / "run" / "tokenizer", "t"), 10, "run")
    texts = [data.train.examples.get(int(i)) for i in data.test.index[:5]]
    import numpy as np

    rng = np.random.default_rng(0)
    ids = again.batch(texts, False, rng)["input_ids"]
    assert np.array_equal(ids, data.test.take(5)["input_ids"])
