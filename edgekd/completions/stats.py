"""``completions stats``: what a dataset holds (counts, metadata, lengths, refusals, log-probs).

Answer lengths are in the teacher's tokens when the record says (its log-probs or its
``usage.completion_tokens``); records that say neither are counted in whitespace words and
reported apart, so the two units never mix.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from edgekd.completions import filters
from edgekd.completions import records as rec
from edgekd.completions.dataset import _latest
from edgekd.completions.readers import read_file

TOP_VALUES = 12  # metadata values listed per key


def _summary(values: list[int]) -> dict[str, float]:
    if not values:
        return {"count": 0, "mean": 0.0, "p50": 0.0, "p90": 0.0, "max": 0.0}
    a = np.asarray(values, dtype=np.float64)
    return {
        "count": int(a.size),
        "mean": round(float(a.mean()), 1),
        "p50": float(np.percentile(a, 50)),
        "p90": float(np.percentile(a, 90)),
        "max": float(a.max()),
    }


def answer_tokens(record: dict[str, Any]) -> int | None:
    """The answer's length in teacher tokens, when the record knows it."""
    if record.get("logprobs"):
        return int(record["logprobs"]["n"])
    usage = record.get("usage") or {}
    n = usage.get("completion_tokens")
    return int(n) if n else None


def dataset_stats(path: Path) -> dict[str, Any]:
    reads = _latest(read_file(Path(path)))
    ok = [r.record for r in reads if not r.failed]
    failed = [r.record for r in reads if r.failed]
    tokens, words = [], []
    for r in ok:
        n = answer_tokens(r)
        if n is None:
            words.append(len(rec.answer(r).split()))
        else:
            tokens.append(n)
    meta: dict[str, Counter[str]] = {}
    for r in ok:
        for k, v in (r.get("metadata") or {}).items():
            meta.setdefault(k, Counter())[v] += 1
    ks = Counter(int(r["logprobs"]["k"]) for r in ok if r.get("logprobs"))
    with_lp = sum(ks.values())
    return {
        "path": str(path),
        "records": len(ok),
        "failed": len(failed),
        "failure_reasons": dict(Counter(str(r.get("error", "")).split(":", 1)[0] for r in failed)),
        "splits": dict(Counter(r.get("split", "?") for r in ok)),
        "metadata": {k: dict(c.most_common(TOP_VALUES)) for k, c in sorted(meta.items())},
        "answer_tokens": _summary(tokens),
        "answer_words_no_token_count": _summary(words),
        "finish_reasons": dict(Counter(str(r.get("finish_reason")) for r in ok)),
        "refusals": sum(1 for r in ok if filters.is_refusal(r)),
        "empty_answers": sum(1 for r in ok if not rec.answer(r).strip()),
        "logprob_coverage": round(with_lp / len(ok), 4) if ok else 0.0,
        "top_k": dict(ks),
        "teachers": dict(Counter(str(r.get("teacher")) for r in ok)),
    }
