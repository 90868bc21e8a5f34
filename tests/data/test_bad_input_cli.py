"""Bad data through ``edgekd compress``: exit code 2 and one message naming the file."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli
from tests.data.fixtures import image_folder, labelled_texts, word_tokenizer, write_jsonl


def _recipe(tmp_path, data: str) -> str:
    path = tmp_path / "recipe.yaml"
    path.write_text(f"data:\n{data}\noutput:\n  dir: {tmp_path / 'runs'}\n")
    return str(path)


def _images(tmp_path, broken: str):
    root = image_folder(tmp_path / "imgs")
    if broken == "flat":
        root = tmp_path / "flat"
        root.mkdir()
        (tmp_path / "imgs" / "c0" / "0.png").rename(root / "0.png")
        return root, f"{root}: no class subfolders"
    if broken == "empty class":
        (root / "zebra").mkdir()
        return root, f"{root / 'zebra'}: class 'zebra' has no images"
    bad = root / "c2" / "1.png"
    bad.write_bytes(bad.read_bytes()[:40])  # truncated
    return root, f"{bad}: unreadable image"


@pytest.mark.parametrize("broken", ["flat", "empty class", "unreadable"])
def test_bad_image_folder_exits_2_naming_it(tmp_path, broken):
    root, expected = _images(tmp_path, broken)
    recipe = _recipe(tmp_path, f"  source: imagefolder\n  path: {root}\n  image: {{size: 32}}")
    code, out = run_cli(["compress", recipe])
    assert code == 2, out
    assert expected in out and "Traceback" not in out


@pytest.mark.parametrize(
    "field,value,expected",
    [
        (
            "text_column",
            "body",
            "no text column 'body' (columns: text, label); set data.text_column",
        ),
        ("label_column", "topic", "no label column 'topic' (columns: text, label)"),
        (None, None, "row 3: empty text in column 'text'"),
    ],
)
def test_bad_text_file_exits_2_naming_it(tmp_path, field, value, expected):
    rows = labelled_texts(10)
    if field is None:
        rows[2] = ("", rows[2][1])
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    tok = word_tokenizer([t for t, _ in rows if t], tmp_path / "tok")
    extra = f"\n  {field}: {value}" if field else ""
    recipe = _recipe(
        tmp_path, f"  source: text\n  path: {path}\n  text: {{tokenizer: {tok}}}{extra}"
    )
    code, out = run_cli(["compress", recipe])
    assert code == 2, out
    assert f"{path}: {expected}" in out and "Traceback" not in out
