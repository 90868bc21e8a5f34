"""Text: a labelled text file (JSONL, CSV/TSV or Parquet) and the text view (a tokenizer).

Files are read with pyarrow; texts stay in an Arrow string array (compact, and memory-mapped
for Parquet) and are tokenized batch by batch, never all at once. The view pads and truncates
to ``max_length``, so every batch, every export and every runtime sees int64 ``input_ids``
and ``attention_mask`` of the same fixed length (TFLite needs fixed shapes; the ONNX export
keeps batch and sequence length dynamic).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekd.data.inputs import InputSpec
from edgekd.errors import DataError, require

TEXT_INPUTS = ("input_ids", "attention_mask")
READERS = {".jsonl": "json", ".json": "json", ".ndjson": "json", ".csv": "csv", ".tsv": "csv",
           ".parquet": "parquet", ".pq": "parquet"}  # fmt: skip


def read_table(path: Path, columns: Sequence[str] | None = None) -> Any:
    """A pyarrow Table from a JSONL, CSV/TSV or Parquet file; errors name the file."""
    pa_json = require("pyarrow.json", "data")
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"{path}: unknown text file type {path.suffix!r}; expected one of "
            f"{', '.join(sorted(READERS))}"
        )
    try:
        if kind == "json":
            return pa_json.read_json(path)
        if kind == "csv":
            pa_csv = require("pyarrow.csv", "data")
            parse = pa_csv.ParseOptions(delimiter="\t" if path.suffix.lower() == ".tsv" else ",",
                                        newlines_in_values=True)  # fmt: skip
            return pa_csv.read_csv(path, parse_options=parse)
        pq = require("pyarrow.parquet", "data")
        return pq.read_table(path, memory_map=True, columns=list(columns) if columns else None)
    except DataError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: not a readable {kind.upper()} file ({first})") from None


def text_column(table: Any, path: str, column: str, field_name: str = "data.text_column") -> Any:
    """The text column as one Arrow string array; refuses a missing column, a null or an
    empty (whitespace-only) text, naming the row (1-based, in file order)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column not in table.column_names:
        raise DataError(
            f"{path}: no text column {column!r} (columns: {', '.join(table.column_names)}); "
            f"set {field_name}"
        )
    col = table.column(column).combine_chunks()
    if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
        raise DataError(f"{path}: column {column!r} holds {col.type}, expected text (strings)")
    empty = pc.or_kleene(pc.is_null(col), pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(col)), 0))
    bad = np.flatnonzero(empty.fill_null(True).to_numpy(zero_copy_only=False))
    if len(bad):
        more = f" (and {len(bad) - 1} more rows)" if len(bad) > 1 else ""
        raise DataError(f"{path}: row {int(bad[0]) + 1}: empty text in column {column!r}{more}")
    return col


def label_values(table: Any, path: str, column: str) -> np.ndarray:
    """The label column as numpy (integers or strings); refuses a missing column or label."""
    import pyarrow.compute as pc

    if column not in table.column_names:
        raise DataError(
            f"{path}: no label column {column!r} (columns: {', '.join(table.column_names)}); "
            "set data.label_column"
        )
    col = table.column(column)
    nulls = np.flatnonzero(pc.is_null(col).to_numpy(zero_copy_only=False))
    if len(nulls):
        raise DataError(f"{path}: row {int(nulls[0]) + 1}: missing label in column {column!r}")
    values = col.to_numpy(zero_copy_only=False)
    if values.dtype.kind == "f":
        if not np.all(np.isfinite(values)) or not np.array_equal(values, values.round()):
            raise DataError(f"{path}: column {column!r}: labels must be integers or strings")
        return values.astype(np.int64)
    if values.dtype.kind in "iub":
        return values.astype(np.int64)
    return np.asarray([str(v).strip() for v in values])


@dataclass(frozen=True)
class ArrowTexts:
    """Texts in an Arrow string array, read one batch at a time."""

    texts: Any

    def __len__(self) -> int:
        return len(self.texts)

    def get(self, i: int) -> str:
        return str(self.texts[i].as_py())


def load_tokenizer(path: str | Path, where: str) -> Any:
    """A Hugging Face fast tokenizer from a directory (``save_pretrained``) or a
    ``tokenizer.json`` file; it must have a padding token."""
    p = Path(path)
    transformers = _transformers()
    try:
        if p.is_file():
            tok = transformers.PreTrainedTokenizerFast(tokenizer_file=str(p))
        elif p.is_dir():
            tok = transformers.AutoTokenizer.from_pretrained(str(p))
        else:
            raise DataError(f"{where}: {p}: no such tokenizer file or directory")
    except DataError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{where}: {p}: no readable tokenizer ({first})") from None
    if tok.pad_token_id is None:
        raise DataError(
            f"{where}: {p}: the tokenizer has no padding token; batches of texts of different "
            "lengths need one (set pad_token in tokenizer_config.json)"
        )
    return tok


def _transformers() -> Any:
    """``transformers``, offline (no hub download), torchvision-safe."""
    from edgekd.backends import import_transformers

    return import_transformers()


@dataclass(frozen=True)
class TextView:
    """Tokenize to int64 ``input_ids``/``attention_mask`` padded to ``max_length``.

    ``source`` says where the tokenizer came from (saved with the artifacts as ``tokenizer/``).
    """

    tokenizer: Any
    max_length: int
    source: str
    kind: str = field(default="text")

    def specs(self) -> list[InputSpec]:
        return [InputSpec(n, "int64", (self.max_length,)) for n in TEXT_INPUTS]

    @property
    def vocab_size(self) -> int:
        return int(len(self.tokenizer))

    def batch(
        self, items: Sequence[str], train: bool, rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        enc = self.tokenizer(
            list(items),
            padding="max_length",
            truncation=True,
            max_length=self.max_length,
            return_attention_mask=True,
        )
        return {n: np.asarray(enc[n], dtype=np.int64).reshape(len(items), -1) for n in TEXT_INPUTS}

    @property
    def fingerprint(self) -> bytes:
        """The tokenizer's full definition (vocabulary, normalizer...), for cache keys."""
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        text = (
            backend.to_str()
            if backend is not None
            else repr(sorted(self.tokenizer.get_vocab().items()))
        )
        return text.encode()

    def tokens(self, text: str) -> list[str]:
        """The token strings of ``text`` (without padding or special tokens)."""
        return list(self.tokenizer.tokenize(text))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "text",
            "inputs": list(TEXT_INPUTS),
            "dtype": "int64",
            "max_length": self.max_length,
            "padding": "max_length",
            "truncation": True,
            "tokenizer": "tokenizer",
            "tokenizer_source": self.source,
            "vocab_size": self.vocab_size,
            "pad_token_id": int(self.tokenizer.pad_token_id),
        }


def check_same_tokens(
    student: TextView, teacher: TextView, texts: Sequence[str], method: str
) -> None:
    """Logit distillation with two tokenizers: the teacher's soft labels describe the tokens
    it read, so the student must read the same tokens (its vocabulary may be a subset with
    other ids). Refuses, naming the first training text split differently."""
    for text in texts:
        a, b = teacher.tokens(text), student.tokens(text)
        if a != b:
            i = next(
                (j for j, (u, v) in enumerate(zip(a, b, strict=False)) if u != v),
                min(len(a), len(b)),
            )
            raise DataError(
                f"data.text.tokenizer: the student's tokenizer ({student.source}, "
                f"{student.vocab_size} tokens) and the teacher's ({teacher.source}, "
                f"{teacher.vocab_size} tokens) split the training text {text[:60]!r} "
                f"differently (token {i}: teacher {a[i : i + 3]}, student {b[i : i + 3]}); "
                f"distill.method {method!r} matches the teacher's soft labels, which describe "
                "the tokens the teacher read, so both must read the same tokens: use the "
                "teacher's tokenizer for the student (or one whose vocabulary is a subset of it)"
            )


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt")


def model_tokenizer_dir(model: str | None) -> Path | None:
    """The directory of an ``hf:DIR`` model when it holds a tokenizer, else None."""
    if not model or not model.startswith("hf:"):
        return None
    d = Path(model[3:])
    return d if any((d / f).is_file() for f in TOKENIZER_FILES) else None


def resolve_tokenizers(recipe: Any) -> Any:
    """The recipe with ``data.text.tokenizer`` (the student's: its ``hf:DIR``, else the
    teacher's) and ``data.text.teacher_tokenizer`` (the teacher's ``hf:DIR``) filled in for
    text data; other recipes are returned as they are."""
    d = recipe.data
    if d.source not in ("text", "hf"):
        return recipe
    teacher = model_tokenizer_dir(recipe.teacher.model)
    student = model_tokenizer_dir(getattr(recipe.student, "model", None))
    tok = d.text.tokenizer or student or teacher
    ttok = d.text.teacher_tokenizer or teacher
    if ttok is not None and tok is not None and Path(ttok).resolve() == Path(tok).resolve():
        ttok = None
    text = d.text.model_copy(update={"tokenizer": tok, "teacher_tokenizer": ttok})
    return recipe.model_copy(update={"data": d.model_copy(update={"text": text})})


def check_text_views(data: Any, method: str, limit: int = 2000) -> None:
    """Before logit distillation on text with two tokenizers: they must read the training
    texts (up to ``limit``) as the same tokens (``check_same_tokens``)."""
    if data.kind != "text" or data.teacher_view is None:
        return
    split = data.train
    texts = [split.examples.get(int(i)) for i in split.index[:limit]]
    check_same_tokens(split.view, data.teacher_view, texts, method)
