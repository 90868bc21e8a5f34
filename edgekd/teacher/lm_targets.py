"""The teacher's next-token distributions for LM distillation: top-k log-probs plus the tail
mass at every distilled position, from one of two places.

- **The dataset** (``from_dataset``): the ``logprobs`` a completions record carries for its
  answer (``edgekd.completions.logprobs``), when they are token ids of the student's
  tokenizer (a local teacher's records) or token strings that map one to one onto it (an
  endpoint with the same tokenizer). The example's answer is then the teacher's own tokens,
  so position j of the answer has row j of the record.
- **A local teacher** (``from_teacher``): run once per (teacher, examples, k) and cached
  through ``edgekd.cache`` as one ``.npy`` of rows, memory-mapped when read, so epochs,
  reruns and later stages never run the teacher again.

Rows are in the teacher's vocabulary; :func:`to_student_vocab` moves them into a trimmed
student's (tokens it lacks join the tail bucket, see ``edgekd.distill.token_kd``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekd.completions import logprobs as lp
from edgekd.completions.lm_examples import LMExample
from edgekd.errors import DataError

KIND = "lm-teacher-topk"


@dataclass(frozen=True)
class TopKRows:
    """Teacher rows of many examples, concatenated in example order; example ``i`` owns rows
    ``offsets[i]:offsets[i + 1]``, one per distilled position (``kd`` mask) in order."""

    ids: np.ndarray  # [R, k] int
    logprobs: np.ndarray  # [R, k] float, -inf for an empty slot
    tail: np.ndarray  # [R] float, log of the mass outside the slots
    offsets: np.ndarray  # [n + 1] int64

    @property
    def k(self) -> int:
        return int(self.ids.shape[1])

    def rows(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.ids[a:b], self.logprobs[a:b], self.tail[a:b]


def kd_positions(ex: LMExample, source: str) -> np.ndarray:
    """Which tokens have a teacher row: the learned tokens of the final answer for dataset
    log-probs (they cover the answer only), every learned token for a local teacher."""
    if source == "dataset":
        mask = np.zeros_like(ex.learn)
        mask[ex.answer[0] : ex.answer[1]] = True
        return mask & ex.learn
    return ex.learn.copy()


# ---- from the dataset ----------------------------------------------------------------


def string_vocab(tokenizer: Any) -> dict[str, int]:
    """Token text -> id, for token strings as endpoints return them (decoded text); a text
    two ids decode to is left out (ambiguous)."""
    out: dict[str, int] = {}
    seen: set[str] = set()
    for i in range(len(tokenizer)):
        s = tokenizer.decode([i], clean_up_tokenization_spaces=False)
        if s in seen:
            out.pop(s, None)
            continue
        seen.add(s)
        out[s] = i
    return out


def topk_ids(tk: lp.TopK, strings: dict[str, int] | None, where: str) -> lp.TopK:
    """The record's top-k with token ids (strings mapped through ``strings``); duplicate ids
    in a row are merged."""
    if tk.tokens == "ids":
        return tk
    if strings is None:
        raise DataError(f"{where}: log-probs are token strings but no tokenizer maps them")
    table = np.empty(len(tk.vocab), np.int64)
    for j, s in enumerate(tk.vocab):
        if s not in strings:
            raise DataError(
                f"{where}: the teacher's token {s!r} is not one token of the student's "
                "tokenizer: its log-probs cannot be token-level targets (use distill.lm.method: "
                "sft, or a local teacher)"
            )
        table[j] = strings[s]
    top = table[tk.top]
    top_lp = tk.top_logprob.copy()
    for t in range(top.shape[0]):  # merge duplicates (two strings, one id)
        _, first, inverse = np.unique(top[t], return_index=True, return_inverse=True)
        if len(first) < top.shape[1]:
            merged = np.full(top.shape[1], -np.inf, np.float32)
            for j, g in enumerate(inverse):
                merged[first[g]] = np.logaddexp(merged[first[g]], top_lp[t, j])
            top_lp[t] = merged
    return lp.TopK(table[tk.sampled], tk.sampled_logprob, top, top_lp, tk.tail_logprob, "ids")


def dataset_topk(
    records: Sequence[dict[str, Any]], strings: dict[str, int] | None, where: str
) -> dict[str, lp.TopK]:
    """record id -> its answer's top-k in token ids; a record without log-probs is an error
    naming it."""
    from edgekd.completions.dataset import topk
    from edgekd.completions.records import record_id

    out = {}
    for i, r in enumerate(records):
        rid = str(r.get("id") or record_id(r["messages"]))
        try:
            tk = topk(r)
        except ValueError as exc:
            raise DataError(f"{where}: record {i} ({rid}): {exc}") from None
        if tk is None:
            raise DataError(
                f"{where}: record {i} ({rid}) has no top_logprobs; token-level targets from "
                "the dataset need them on every record (or name a local teacher)"
            )
        out[rid] = topk_ids(tk, strings, f"{where}: record {i} ({rid})")
    return out


def from_dataset(
    examples: Sequence[LMExample], topks: dict[str, lp.TopK], k: int | None = None
) -> TopKRows:
    """Rows for examples whose answers are the records' own teacher tokens; with ``k`` below
    the dataset's, the alternatives past the k-th join the tail."""
    width = max((t.k for t in topks.values()), default=1)
    k = width if not k else min(k, width)
    ids, lps, tails, offsets = [], [], [], [0]
    for ex in examples:
        n = int(kd_positions(ex, "dataset").sum())
        tk = topks[ex.record_id]
        if n > len(tk):
            raise DataError(f"record {ex.record_id}: {n} answer tokens but {len(tk)} log-prob rows")
        top = np.zeros((n, width), np.int64)
        top_lp = np.full((n, width), -np.inf, np.float32)
        top[:, : tk.k] = tk.top[:n]
        top_lp[:, : tk.k] = tk.top_logprob[:n]
        tail = tk.tail_logprob[:n].astype(np.float32)
        if k < width:
            with np.errstate(divide="ignore"):
                tail = np.logaddexp(tail, np.logaddexp.reduce(top_lp[:, k:], axis=-1))
            top, top_lp = top[:, :k], top_lp[:, :k]
        ids.append(top)
        lps.append(top_lp)
        tails.append(tail.astype(np.float32))
        offsets.append(offsets[-1] + n)
    return TopKRows(
        np.concatenate(ids) if ids else np.zeros((0, k), np.int64),
        np.concatenate(lps) if lps else np.zeros((0, k), np.float32),
        np.concatenate(tails) if tails else np.zeros(0, np.float32),
        np.asarray(offsets, np.int64),
    )


# ---- from a local teacher --------------------------------------------------------------


def topk_of_logits(logits: Any, k: int) -> tuple[Any, Any, Any]:
    """(ids [N, k], log-probs [N, k], log tail mass [N]) of logits [N, V] (torch)."""
    import torch

    logp = torch.log_softmax(logits.float(), dim=-1)
    k = min(k, logp.shape[-1])
    top_lp, top = logp.topk(k, dim=-1)
    rest = logp.scatter(-1, top, -torch.inf)
    return top, top_lp, torch.logsumexp(rest, dim=-1)


def _examples_key(examples: Sequence[LMExample]) -> bytes:
    import hashlib

    h = hashlib.sha256()
    for ex in examples:
        h.update(ex.input_ids.astype("<i8").tobytes())
        h.update(ex.learn.tobytes())
        h.update(b"|")
    return h.digest()


def _dtype(k: int) -> np.dtype:
    return np.dtype([("ids", "<i4", (k,)), ("lp", "<f4", (k,)), ("tail", "<f4"), ("ex", "<i4")])


def _compute(
    model: Any,
    examples: Sequence[LMExample],
    k: int,
    pad_id: int,
    batch_size: int,
    progress: Callable[[int, int], None] | None,
    offset: int = 0,
) -> np.ndarray:
    """Rows of ``examples`` (numbered from ``offset`` in the ``ex`` field)."""
    import torch

    parts = []
    for start in range(0, len(examples), batch_size):
        batch = examples[start : start + batch_size]
        width = max(len(e) for e in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for b, e in enumerate(batch):
            ids[b, : len(e)] = torch.as_tensor(e.input_ids)
            mask[b, : len(e)] = 1
        with torch.inference_mode():
            logits = model(input_ids=ids, attention_mask=mask).logits
        for b, e in enumerate(batch):
            pos = np.flatnonzero(kd_positions(e, "teacher"))
            top, top_lp, tail = topk_of_logits(logits[b, pos - 1], k)
            rows = np.zeros(len(pos), _dtype(top.shape[-1]))
            rows["ids"], rows["lp"], rows["tail"] = top.numpy(), top_lp.numpy(), tail.numpy()
            rows["ex"] = offset + start + b
            parts.append(rows)
        if progress is not None:
            progress(min(start + batch_size, len(examples)), len(examples))
    return np.concatenate(parts) if parts else np.zeros(0, _dtype(k))


def _rows_of(table: np.ndarray, n: int) -> TopKRows:
    ex = np.asarray(table["ex"])
    if len(ex) and (np.any(np.diff(ex) < 0) or ex[-1] >= n):
        raise ValueError("teacher rows out of order")
    offsets = np.searchsorted(ex, np.arange(n + 1)).astype(np.int64)
    return TopKRows(table["ids"], table["lp"], table["tail"], offsets)


def from_teacher(
    model: Any,
    teacher_id: str,
    examples: Sequence[LMExample],
    k: int,
    pad_id: int,
    cache: Any,
    batch_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
    counts: list[int] | None = None,
) -> tuple[TopKRows, bool]:
    """(rows, cache hit): the local teacher's top-k at every learned position, computed once
    per (teacher, examples, k) and memory-mapped from the cache. On a distributed run
    (:func:`edgekd.distributed.world.active`) each rank computes a contiguous slice of the
    examples once and writes it atomically as a part file, rank 0 joins the parts into the
    entry after a barrier, and every rank memory-maps it: the teacher never runs twice for
    an example, across ranks or reruns (a killed fill keeps its finished parts). ``counts``
    receives how many examples each rank ran the teacher on."""
    from edgekd.distributed import world

    w = world.active()
    ran = [0] if w is None else [0] * w.size

    def make() -> np.ndarray:
        if w is None:
            ran[0] = len(examples)
            return _compute(model, examples, k, pad_id, batch_size, progress)
        part = _fill_part(model, examples, k, pad_id, batch_size, progress, parts, w)
        ran[:] = world.gather(part, "how many examples each rank ran the teacher on")
        if not w.is_main:
            return np.zeros(0, _dtype(k))  # rank 0 joins the parts and saves the entry
        return _join_parts(parts, w.size)

    def load(path: Path) -> TopKRows:
        rows = _rows_of(np.load(path, mmap_mode="r", allow_pickle=False), len(examples))
        expect = [int(kd_positions(e, "teacher").sum()) for e in examples]
        if np.diff(rows.offsets).tolist() != expect:
            raise ValueError("cached rows do not match the examples")
        return rows

    key = [teacher_id, _examples_key(examples), f"k={k}"]
    parts = cache.path(KIND, key, ".parts")
    out = cache.get_or_make(KIND, key, make, load, _save_table, ".npy", collective_make=True)
    if w is not None and w.is_main:
        import shutil

        shutil.rmtree(parts, ignore_errors=True)  # the entry holds every row now
    if counts is not None:
        counts[:] = ran
    return out


def _save_table(table: np.ndarray, path: Path) -> None:
    with open(path, "wb") as f:
        np.save(f, table, allow_pickle=False)


def _fill_part(
    model: Any,
    examples: Sequence[LMExample],
    k: int,
    pad_id: int,
    batch_size: int,
    progress: Callable[[int, int], None] | None,
    parts: Path,
    w: Any,
) -> int:
    """This rank's contiguous slice of ``examples`` through the teacher, saved atomically
    as ``parts/<rank>-of-<N>.npy`` (kept from a killed fill: then not run again); then every
    rank waits for the others. Returns how many examples this rank ran."""
    from edgekd.distributed import world
    from edgekd.fileio import atomic_save

    n = len(examples)
    lo, hi = n * w.rank // w.size, n * (w.rank + 1) // w.size
    path = parts / f"{w.rank}-of-{w.size}.npy"
    ran = 0
    if _read_part(path, examples, lo, hi) is None:
        scaled = None if progress is None else (lambda d, _n: progress(min(n, d * w.size), n))
        with world.alone():
            table = _compute(model, examples[lo:hi], k, pad_id, batch_size, scaled, offset=lo)
        parts.mkdir(parents=True, exist_ok=True)
        atomic_save(path, lambda tmp: _save_table(table, tmp))
        ran = hi - lo
    world.wait("every rank writing its slice of the teacher's top-k")
    return ran


def _read_part(path: Path, examples: Sequence[LMExample], lo: int, hi: int) -> np.ndarray | None:
    """A finished part with the rows of examples ``lo:hi``, memory-mapped; else None."""
    try:
        table = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None
    want = sum(int(kd_positions(e, "teacher").sum()) for e in examples[lo:hi])
    return table if len(table) == want else None


def _join_parts(parts: Path, size: int) -> np.ndarray:
    """Every rank's part, in rank order: the rows of all examples."""
    tables = [np.load(parts / f"{r}-of-{size}.npy", allow_pickle=False) for r in range(size)]
    return np.concatenate(tables)


# ---- into a trimmed student's vocabulary ------------------------------------------------


def to_student_vocab(
    ids: np.ndarray, logprobs: np.ndarray, tail: np.ndarray, old_to_new: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows in the student's ids: a token the student lacks leaves its slot (now empty) and
    its mass joins the tail."""
    if old_to_new is None:
        return np.asarray(ids, np.int64), np.asarray(logprobs, np.float32), np.asarray(tail)
    ids = np.asarray(ids, np.int64)
    new = old_to_new[np.clip(ids, 0, len(old_to_new) - 1)]
    lps = np.asarray(logprobs, np.float32)
    dropped = (new < 0) & np.isfinite(lps)
    moved = np.where(dropped, lps, -np.inf)
    with np.errstate(divide="ignore"):
        tail = np.logaddexp(np.asarray(tail, np.float32), np.logaddexp.reduce(moved, axis=-1))
    lps = np.where(new < 0, -np.inf, lps).astype(np.float32)
    return np.where(new < 0, 0, new), lps, tail.astype(np.float32)
