"""The dataset record: one chat exchange whose last message is the teacher's answer.

A dataset is JSONL, one record per line (DESIGN.md, "completions"):

``schema``      ``"edgekd.completion.v1"``
``id``          content hash of the messages including the answer (the dedupe key)
``messages``    ``[{"role", "content", "weight"?}, ...]``; the last one is the assistant's
                answer; ``weight: 0`` on an assistant turn means "do not learn this turn"
                (OpenAI's chat fine-tuning format)
``metadata``    ``{str: str}``, what ``--where`` filters on
``split``       ``train`` | ``val`` | ``test``, from a hash of the prompt (the messages before
                the answer), so a prompt never straddles splits and adding records never moves
                old ones
``logprobs``    optional, the answer's top-k log-probs (:mod:`edgekd.completions.logprobs`)
``finish_reason``, ``teacher``, ``created`` (unix seconds), ``usage``: as the teacher said

Generation records (``edgekd completions generate``) are the same records plus ``key`` (hash of
teacher, prompt and settings), ``status`` (``ok`` | ``failed``) and ``error``; readers skip
failed ones.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

SCHEMA = "edgekd.completion.v1"
SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


def canonical(obj: Any) -> bytes:
    """Stable JSON bytes for hashing (sorted keys, no whitespace, UTF-8)."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _turns(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"role": str(m["role"]), "content": str(m.get("content") or "")} for m in messages]


def content_hash(obj: Any, length: int = 16) -> str:
    return hashlib.sha256(canonical(obj)).hexdigest()[:length]


def record_id(messages: list[dict[str, Any]]) -> str:
    """Hash of (prompt, answer): two records with the same exchange are duplicates."""
    return content_hash(_turns(messages))


def prompt_hash(messages: list[dict[str, Any]]) -> str:
    """Hash of the messages before the answer."""
    return content_hash(_turns(messages[:-1]))


def split_of(messages: list[dict[str, Any]], fractions: tuple[float, float, float]) -> str:
    """``train``/``val``/``test`` from the prompt's hash: stable as records are added."""
    u = int(prompt_hash(messages), 16) / 16**16
    edge = 0.0
    for name, f in zip(SPLITS, fractions, strict=True):
        edge += f
        if u < edge:
            return name
    return SPLITS[-1]


def answer(record: dict[str, Any]) -> str:
    """The teacher's answer (content of the last message)."""
    return str(record["messages"][-1].get("content") or "")


def prompt_messages(record: dict[str, Any]) -> list[dict[str, Any]]:
    return list(record["messages"][:-1])


def make_record(
    messages: list[dict[str, Any]],
    *,
    metadata: dict[str, str] | None = None,
    logprobs: dict[str, Any] | None = None,
    finish_reason: str | None = "stop",
    teacher: str | None = None,
    created: int | None = None,
    usage: dict[str, Any] | None = None,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    **extra: Any,
) -> dict[str, Any]:
    """A dataset record with its id and split filled in."""
    rec: dict[str, Any] = {
        "schema": SCHEMA,
        "id": record_id(messages),
        "split": split_of(messages, fractions),
        "messages": messages,
        "metadata": {str(k): str(v) for k, v in (metadata or {}).items()},
        "finish_reason": finish_reason,
        "teacher": teacher,
        "created": created,
    }
    if usage:
        rec["usage"] = usage
    if logprobs is not None:
        rec["logprobs"] = logprobs
    rec.update(extra)
    return rec


def dumps(record: dict[str, Any]) -> str:
    """One JSONL line (with its newline)."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
