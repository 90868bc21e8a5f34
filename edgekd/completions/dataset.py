"""Build a dataset from input files (``completions import``) and read it back (for students).

Import: read every file (three formats, :mod:`edgekd.completions.readers`), keep the newest
generation record per key, filter (:mod:`edgekd.completions.filters`), dedupe on (messages,
answer), assign splits by prompt hash, and write the JSONL atomically. Every removal is
counted by reason; fewer than ``MIN_RECORDS`` usable records is an error that says how many
were found and what each filter removed.

Reading back (what an LM student or ``data.source: completions`` calls):
:func:`read_dataset` (``edgekd.read_completions``) gives the usable records of a split;
:func:`training_turns` says which messages to learn (assistant turns without ``weight: 0``);
:func:`topk` decodes the answer's top-k log-probs (for a local teacher, token ids of its
tokenizer, the end-of-turn token last when ``finish_reason`` is ``stop``); and
:func:`labelled_texts` gives (text, label, soft target) for a classifier on an LLM's labels.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgekd.completions import filters
from edgekd.completions import logprobs as lp
from edgekd.completions import records as rec
from edgekd.completions.readers import Read, read_file
from edgekd.errors import DataError
from edgekd.fileio import atomic_path

# OpenAI's fine-tuning minimum (platform docs: "at least 10 examples"); hundreds to thousands
# are what make a student useful.
MIN_RECORDS = 10
REASONS = (
    "failed generation",
    "before --since",
    "empty answer",
    "refused",
    "finish_reason=length",
    "duplicate",
)


@dataclass
class ImportSummary:
    out: str
    files: list[str]
    read: int
    kept: int
    removed: dict[str, int]
    splits: dict[str, int]
    with_logprobs: int
    metadata_keys: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _latest(reads: Iterable[Read]) -> list[Read]:
    """One record per generation key, the last in file order (a retry supersedes a failure)."""
    keyed: dict[str, int] = {}
    out: list[Read] = []
    for r in reads:
        key = r.record.get("key")
        if key is not None and key in keyed:
            out[keyed[key]] = r
        else:
            if key is not None:
                keyed[key] = len(out)
            out.append(r)
    return out


def select(
    reads: list[Read],
    wheres: list[filters.Where],
    since: int | None,
    fractions: tuple[float, float, float] = rec.DEFAULT_FRACTIONS,
    keep_truncated: bool = False,
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """(kept records with splits, removed counts by reason)."""
    removed: Counter[str] = Counter({r: 0 for r in REASONS})
    seen: set[str] = set()
    kept = []
    for r in reads:
        if r.failed:
            removed["failed generation"] += 1
            continue
        why = filters.drop_reason(r.record, wheres, since, keep_truncated)
        if why is None:
            rid = rec.record_id(r.record["messages"])
            why = "duplicate" if rid in seen else None
            seen.add(rid)
        if why is not None:
            removed[why] += 1
            continue
        record = dict(r.record)
        record["id"] = rec.record_id(record["messages"])
        record["split"] = rec.split_of(record["messages"], fractions)
        kept.append(record)
    return kept, removed


def import_records(
    files: list[Path],
    out: Path,
    *,
    where: list[str] | None = None,
    since: str | None = None,
    fractions: tuple[float, float, float] = rec.DEFAULT_FRACTIONS,
    min_records: int = MIN_RECORDS,
    keep_truncated: bool = False,
) -> ImportSummary:
    """Read, filter, dedupe, split and write ``out`` (see the module docstring)."""
    if not files:
        raise DataError("no input files")
    _check_fractions(fractions)
    wheres, since_s = filters.parse_where(where or []), filters.parse_since(since)
    reads: list[Read] = []
    for f in files:
        reads.extend(read_file(Path(f)))
    keys = {k for r in reads for k in (r.record.get("metadata") or {})}
    filters.check_where_keys(wheres, keys)
    latest = _latest(reads)
    kept, removed = select(latest, wheres, since_s, fractions, keep_truncated)
    superseded = len(reads) - len(latest)
    if len(kept) < min_records:
        why = ", ".join(f"{n} {k}" for k, n in removed.items() if n) or "nothing"
        raise DataError(
            f"{', '.join(map(str, files))}: {len(kept)} usable record(s) after filtering, "
            f"need at least {min_records} (read {len(reads)}; removed: {why})"
        )
    write_dataset(out, kept)
    return ImportSummary(
        out=str(out),
        files=[str(f) for f in files],
        read=len(reads),
        kept=len(kept),
        removed={**dict(removed), **({"superseded retry": superseded} if superseded else {})},
        splits=dict(Counter(r["split"] for r in kept)),
        with_logprobs=sum(1 for r in kept if r.get("logprobs") is not None),
        metadata_keys=sorted(keys),
    )


def _check_fractions(fractions: tuple[float, float, float]) -> None:
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
        raise DataError(f"split fractions {fractions}: expected three shares summing to 1")


def write_dataset(out: Path, records: Iterable[dict[str, Any]]) -> None:
    """Write records as JSONL under a temporary name, renamed into place when whole."""
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for r in records:
            f.write(rec.dumps(r))


# ---- reading a dataset back: what students and ``data.source: completions`` call ----


def read_dataset(path: Path, split: str | None = None) -> list[dict[str, Any]]:
    """The usable records of a dataset (failed generation records skipped), optionally one
    split. Any of the three import formats is accepted, so a raw generation log works too."""
    if split is not None and split not in rec.SPLITS:
        raise DataError(f"split {split!r}: expected one of {', '.join(rec.SPLITS)}")
    out = []
    for r in _latest(read_file(Path(path))):
        if r.failed:
            continue
        record = r.record
        record.setdefault("split", rec.split_of(record["messages"], rec.DEFAULT_FRACTIONS))
        if split is None or record["split"] == split:
            out.append(record)
    if not out:
        raise DataError(f"{path}: no usable records" + (f" in split {split!r}" if split else ""))
    return out


def training_turns(record: dict[str, Any]) -> list[tuple[dict[str, Any], bool]]:
    """``(message, learn)`` per message: ``learn`` is True on assistant turns whose ``weight``
    is not 0 (the answer, and earlier assistant turns of a fine-tuning record)."""
    return [(m, m["role"] == "assistant" and m.get("weight", 1) != 0) for m in record["messages"]]


def topk(record: dict[str, Any]) -> lp.TopK | None:
    """The answer's top-k log-probs, or None when the record has none."""
    d = record.get("logprobs")
    return None if d is None else lp.decode(d)


@dataclass
class LabelledText:
    """One input of a text classifier trained on an LLM's labels."""

    text: str  # the last user turn
    label: str | None  # the label the teacher's answer names (None: unparseable)
    soft: dict[str, float] | None  # the teacher's label distribution, from its log-probs


def labelled_texts(
    records: list[dict[str, Any]], labels: list[str], decode: Any = None
) -> list[LabelledText]:
    """Inputs, hard labels and soft targets (:mod:`edgekd.completions.labels`) of records
    whose answers pick one of ``labels``. ``decode`` (token ids to text) is needed for soft
    targets of a local teacher's records."""
    from edgekd.completions.labels import parse_label, soft_target

    out = []
    for r in records:
        user = [m for m in r["messages"][:-1] if m["role"] == "user"]
        tk = topk(r)
        soft = None
        if tk is not None and (tk.tokens == "strings" or decode is not None):
            st = soft_target(tk, labels, decode)
            soft = None if st is None else st.probs
        out.append(
            LabelledText(
                str(user[-1].get("content") or "") if user else "",
                parse_label(rec.answer(r), labels),
                soft,
            )
        )
    return out


def read_completions(path: str | Path, split: str | None = None) -> list[dict[str, Any]]:
    """Public name of :func:`read_dataset` (``edgekd.read_completions``)."""
    return read_dataset(Path(path), split)
