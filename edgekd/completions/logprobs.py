"""Top-k log-probabilities of a teacher's answer, stored compactly inside a dataset record.

One answer of ``T`` tokens with the teacher's top ``k`` alternatives per position is stored as
little-endian arrays in base64 (JSON lists of floats would be about four times larger):

- ``sampled`` / ``sampled_logprob`` (``T``): the token the teacher emitted and its log-prob;
- ``top`` / ``top_logprob`` (``T x k``, row-major): the k most likely tokens, most likely first;
- ``tail_logprob`` (``T``): log of the probability mass outside the top k, so divergences can be
  computed exactly over "top k + one tail bucket" without the full vocabulary;
- ``tokens``: ``"ids"`` when the indices are the teacher tokenizer's ids (a local teacher), or
  ``"strings"`` when they index the record's own ``vocab`` list of token strings (an endpoint
  returns strings, not ids).

Log-probs are float16 (about three significant digits; a KD target needs no more). A log-prob
the endpoint reports as ``-9999`` (OpenAI's "outside the top k" placeholder) is stored as
``-inf``. Log-probs are those of the teacher's unmodified distribution (temperature 1), as
both the OpenAI API and :mod:`edgekd.completions.hf_teacher` report them.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

FORMAT = "edgekd.topk.v1"
OUTSIDE_TOP_K = -9999.0  # OpenAI's placeholder for "not among the returned alternatives"


@dataclass(frozen=True)
class TopK:
    """Top-k log-probs of one answer: arrays of ``T`` positions (``k`` alternatives each)."""

    sampled: np.ndarray  # int64 [T]
    sampled_logprob: np.ndarray  # float32 [T]
    top: np.ndarray  # int64 [T, k]
    top_logprob: np.ndarray  # float32 [T, k], -inf where unknown
    tail_logprob: np.ndarray  # float32 [T]
    tokens: str  # "ids" | "strings"
    vocab: tuple[str, ...] = ()  # token strings when tokens == "strings"

    @property
    def k(self) -> int:
        return int(self.top.shape[1])

    def __len__(self) -> int:
        return int(self.sampled.shape[0])

    def token_strings(self) -> list[str]:
        """The emitted tokens as strings (only for ``tokens == "strings"``)."""
        if self.tokens != "strings":
            raise ValueError("token ids have no strings without the teacher's tokenizer")
        return [self.vocab[i] for i in self.sampled.tolist()]


def tail_logprob(top_logprob: np.ndarray) -> np.ndarray:
    """``log(1 - sum_j p_j)`` per row, the mass outside the top k (``-inf`` when it is ~0)."""
    p = np.exp(np.asarray(top_logprob, dtype=np.float64)).sum(axis=-1)
    rest = np.clip(1.0 - p, 0.0, 1.0)
    with np.errstate(divide="ignore"):
        return np.log(rest).astype(np.float32)


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def _unb64(s: str, dtype: str, count: int) -> np.ndarray:
    raw = base64.b64decode(s.encode("ascii"), validate=True)
    a = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
    if a.size != count:
        raise ValueError(f"expected {count} values, found {a.size}")
    return a


def _index_dtype(top: np.ndarray, sampled: np.ndarray) -> str:
    hi = max(int(top.max(initial=0)), int(sampled.max(initial=0)))
    return "u2" if hi < 1 << 16 else "u4"


def encode(tk: TopK) -> dict[str, Any]:
    """The JSON-ready dict stored as a record's ``logprobs``."""
    idx = _index_dtype(tk.top, tk.sampled)
    out: dict[str, Any] = {
        "format": FORMAT,
        "tokens": tk.tokens,
        "n": len(tk),
        "k": tk.k,
        "index_dtype": idx,
        "sampled": _b64(tk.sampled.astype("<" + idx)),
        "sampled_logprob": _b64(tk.sampled_logprob.astype("<f2")),
        "top": _b64(tk.top.astype("<" + idx)),
        "top_logprob": _b64(tk.top_logprob.astype("<f2")),
        "tail_logprob": _b64(tk.tail_logprob.astype("<f2")),
    }
    if tk.tokens == "strings":
        out["vocab"] = list(tk.vocab)
    return out


def decode(d: dict[str, Any]) -> TopK:
    """Inverse of :func:`encode`; raises ``ValueError`` naming the field that is wrong."""
    if d.get("format") != FORMAT:
        raise ValueError(f"logprobs.format: expected {FORMAT!r}, found {d.get('format')!r}")
    try:
        n, k, idx = int(d["n"]), int(d["k"]), str(d["index_dtype"])
        tokens = str(d["tokens"])
        arrays: dict[str, np.ndarray] = {
            "sampled": _unb64(d["sampled"], idx, n).astype(np.int64),
            "sampled_logprob": _unb64(d["sampled_logprob"], "f2", n).astype(np.float32),
            "top": _unb64(d["top"], idx, n * k).astype(np.int64).reshape(n, k),
            "top_logprob": _unb64(d["top_logprob"], "f2", n * k).astype(np.float32).reshape(n, k),
            "tail_logprob": _unb64(d["tail_logprob"], "f2", n).astype(np.float32),
        }
    except KeyError as exc:
        raise ValueError(f"logprobs.{exc.args[0]}: missing") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"logprobs: {exc}") from None
    if tokens not in ("ids", "strings"):
        raise ValueError(f"logprobs.tokens: expected 'ids' or 'strings', found {tokens!r}")
    vocab = tuple(d.get("vocab") or ())
    if tokens == "strings" and n and int(arrays["top"].max()) >= len(vocab):
        raise ValueError("logprobs.vocab: an index points past the record's vocab")
    return TopK(tokens=tokens, vocab=vocab, **arrays)


def from_openai(content: list[dict[str, Any]]) -> TopK:
    """Build from ``choices[].logprobs.content`` of the chat completions API.

    Each entry is ``{"token", "logprob", "top_logprobs": [{"token", "logprob"}, ...]}``.
    Positions with fewer alternatives than the widest are padded with ``-inf``.
    """
    vocab: dict[str, int] = {}

    def index(tok: str) -> int:
        return vocab.setdefault(tok, len(vocab))

    k = max((len(c.get("top_logprobs") or []) for c in content), default=0)
    n = len(content)
    sampled = np.zeros(n, np.int64)
    sampled_lp = np.zeros(n, np.float32)
    top = np.zeros((n, k), np.int64)
    top_lp = np.full((n, k), -np.inf, np.float32)
    for t, c in enumerate(content):
        sampled[t] = index(str(c["token"]))
        sampled_lp[t] = _lp(c["logprob"])
        for j, alt in enumerate(c.get("top_logprobs") or []):
            top[t, j] = index(str(alt["token"]))
            top_lp[t, j] = _lp(alt["logprob"])
    return TopK(
        sampled=sampled,
        sampled_logprob=sampled_lp,
        top=top,
        top_logprob=top_lp,
        tail_logprob=tail_logprob(top_lp),
        tokens="strings",
        vocab=tuple(vocab),
    )


def _lp(v: Any) -> float:
    x = float(v)
    return -math.inf if x <= OUTSIDE_TOP_K else x


def from_logits(logits: np.ndarray, sampled: np.ndarray, k: int) -> TopK:
    """Top-k of raw logits ``[T, V]`` (a local teacher), in float32 before storing."""
    logits = np.asarray(logits, dtype=np.float32)
    m = logits.max(axis=-1, keepdims=True)
    logp = logits - m - np.log(np.exp(logits - m).sum(axis=-1, keepdims=True))
    k = min(k, logits.shape[-1])
    part = np.argpartition(-logp, k - 1, axis=-1)[:, :k]
    part_lp = np.take_along_axis(logp, part, axis=-1)
    order = np.argsort(-part_lp, axis=-1, kind="stable")
    top = np.take_along_axis(part, order, axis=-1)
    top_lp = np.take_along_axis(part_lp, order, axis=-1)
    sampled = np.asarray(sampled, dtype=np.int64)
    return TopK(
        sampled=sampled,
        sampled_logprob=logp[np.arange(len(sampled)), sampled].astype(np.float32),
        top=top.astype(np.int64),
        top_logprob=top_lp.astype(np.float32),
        tail_logprob=tail_logprob(top_lp),
        tokens="ids",
    )
