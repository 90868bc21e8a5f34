"""Which records a dataset keeps: metadata filters, date, empty/refused/truncated answers.

Each filter returns a reason string (the record is removed and counted under it) or None.
``--where KEY=VALUE``: several are ANDed, ``KEY=V1,V2`` is OR within a key.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from edgekd.completions import records as rec
from edgekd.errors import UsageError

# Openers of a refusal (OpenAI's models, Llama/Mistral/SmolLM-style chat models): an apology
# whose first sentence goes on to say the model can't, or a bare "I can't help ...". A
# refusal field set by the API (``message.refusal``) counts whatever the text says.
REFUSAL = re.compile(
    r"^\s*((I['’]m sorry|I apologi[sz]e)[^.]*?\bbut\b[^.]*?\b(can['’]?not|can['’]t|won['’]t"
    r"|am unable|(don['’]t|do not) have the (ability|capability)|am not able)\b"
    r"|I (can['’]?not|can['’]t|won['’]t|am unable to|am not able to) "
    r"(help|assist|comply|provide|fulfil|do that|answer)"
    r"|As an AI( language model)?, I (can['’]?not|can['’]t|am unable))",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Where:
    key: str
    values: frozenset[str]

    def __str__(self) -> str:
        return f"{self.key}={','.join(sorted(self.values))}"


def parse_where(items: list[str]) -> list[Where]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value:
            raise UsageError(f"--where {item!r}: expected KEY=VALUE or KEY=V1,V2")
        out.append(Where(key.strip(), frozenset(v.strip() for v in value.split(","))))
    return out


def parse_since(value: str | None) -> int | None:
    """``--since`` as unix seconds: an ISO date or date-time (UTC when no zone is given)."""
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--since {value!r}: expected a date like 2025-01-31") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return int(when.timestamp())


def check_where_keys(wheres: list[Where], seen_keys: set[str]) -> None:
    """A ``--where`` key no record has is a typo, not an empty result: say which keys exist."""
    for w in wheres:
        if w.key not in seen_keys:
            have = ", ".join(sorted(seen_keys)) or "none (the records carry no metadata)"
            raise UsageError(f"--where {w}: no record has metadata key {w.key!r}; keys: {have}")


def is_refusal(record: dict[str, Any]) -> bool:
    return bool(record.get("refusal")) or bool(REFUSAL.match(rec.answer(record)))


def drop_reason(
    record: dict[str, Any], wheres: list[Where], since: int | None, keep_truncated: bool = False
) -> str | None:
    """Why ``record`` is removed (the name it is counted under), or None to keep it."""
    meta = record.get("metadata") or {}
    for w in wheres:
        if meta.get(w.key) not in w.values:
            return f"where {w.key}"
    if since is not None and (record.get("created") is None or record["created"] < since):
        return "before --since"
    if not rec.answer(record).strip() and not record.get("refusal"):
        return "empty answer"
    if is_refusal(record):
        return "refused"
    finish = record.get("finish_reason")
    if finish not in (None, "stop") and not (keep_truncated and finish == "length"):
        return f"finish_reason={finish}"
    return None
