"""Read the three input formats of ``completions import`` into dataset records.

(a) chat fine-tuning JSONL: ``{"messages": [...]}``, optional ``weight: 0|1`` on assistant
    turns (OpenAI's fine-tuning format);
(b) chat completion objects as the stored-completions list API returns them: ``id``,
    ``model``, ``created``, ``metadata``, ``choices[].message``, ``choices[].finish_reason``,
    ``choices[].logprobs.content[].top_logprobs``, ``usage``, ``request_id``, with their input
    messages under ``messages`` (what ``completions pull`` writes) or ``input_messages``;
(c) edgekd's own records (``schema: edgekd.completion.v1``), from ``generate`` or ``import``.

Every problem is a DataError (exit 2) naming ``FILE:LINE`` and the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekd.completions import logprobs as lp
from edgekd.completions import records as rec
from edgekd.completions.prompts import check_messages
from edgekd.errors import DataError


@dataclass
class Read:
    """One record read from a file, before filtering."""

    record: dict[str, Any]
    where: str  # FILE:LINE
    failed: bool = False  # a generation record whose prompt failed


def read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed JSON)`` for each non-blank line; DataError on malformed JSON."""
    try:
        f = open(path, encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with f:
        try:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    yield i, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(
                        f"{path}:{i}: malformed JSON ({exc.msg} at column {exc.colno})"
                    ) from None
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from None


def read_file(path: Path) -> Iterator[Read]:
    """Every record of ``path``, whatever of the three formats each line is in."""
    for i, obj in read_jsonl(path):
        where = f"{path}:{i}"
        if not isinstance(obj, dict):
            raise DataError(f"{where}: expected a JSON object per line")
        yield parse(obj, where)


def parse(obj: dict[str, Any], where: str) -> Read:
    if obj.get("schema") == rec.SCHEMA:
        return _own(obj, where)
    if "choices" in obj:
        return _completion(obj, where)
    return _finetune(obj, where)


def _metadata(obj: dict[str, Any], where: str) -> dict[str, str]:
    meta = obj.get("metadata") or {}
    if not isinstance(meta, dict):
        raise DataError(f"{where}: metadata: expected an object of strings")
    return {str(k): str(v) for k, v in meta.items()}


def _with_answer(messages: Any, where: str) -> list[dict[str, Any]]:
    messages = check_messages(messages, where)
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last is None:
        raise DataError(f"{where}: messages: no assistant turn (the answer to learn from)")
    for i, m in enumerate(messages):
        w = m.get("weight")
        if w is not None and (m["role"] != "assistant" or w not in (0, 1)):
            raise DataError(f"{where}: messages[{i}].weight: expected 0 or 1 on assistant turns")
    return messages[: last + 1]


def _finetune(obj: dict[str, Any], where: str) -> Read:
    if "messages" not in obj:
        raise DataError(
            f"{where}: messages: missing (expected a chat fine-tuning record "
            '{"messages": [...]}, a chat completion with "choices", or an edgekd record)'
        )
    messages = _with_answer(obj["messages"], where)
    return Read(
        rec.make_record(messages, metadata=_metadata(obj, where), finish_reason="stop"), where
    )


def _completion(obj: dict[str, Any], where: str) -> Read:
    inputs = obj.get("messages", obj.get("input_messages"))
    if inputs is None:
        raise DataError(
            f"{where}: messages: missing (a chat completion needs its input messages under "
            '"messages" or "input_messages"; completions pull fetches them)'
        )
    inputs = check_messages(inputs, where)
    if isinstance(inputs, list) and inputs and inputs[-1].get("role") == "assistant":
        inputs = inputs[:-1]
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise DataError(f"{where}: choices: expected a non-empty list")
    choice = choices[0]
    msg = choice.get("message")
    if not isinstance(msg, dict):
        raise DataError(f"{where}: choices[0].message: missing (an assistant turn is needed)")
    content = msg.get("content")
    if content is not None and not isinstance(content, str):
        raise DataError(f"{where}: choices[0].message.content: expected a string")
    topk = None
    content_lp = (choice.get("logprobs") or {}).get("content")
    if content_lp:
        try:
            topk = lp.encode(lp.from_openai(content_lp))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{where}: choices[0].logprobs.content: {exc}") from None
    answer = {"role": "assistant", "content": content or ""}
    extra: dict[str, Any] = {"source_id": obj.get("id"), "request_id": obj.get("request_id")}
    if msg.get("refusal"):
        extra["refusal"] = msg["refusal"]
    r = rec.make_record(
        [*inputs, answer],
        metadata=_metadata(obj, where),
        logprobs=topk,
        finish_reason=choice.get("finish_reason"),
        teacher=obj.get("model"),
        created=_int_or_none(obj.get("created"), where, "created"),
        usage=obj.get("usage") if isinstance(obj.get("usage"), dict) else None,
        **{k: v for k, v in extra.items() if v is not None},
    )
    return Read(r, where)


def _own(obj: dict[str, Any], where: str) -> Read:
    if obj.get("status") == "failed":
        return Read(obj, where, failed=True)
    if "messages" not in obj:
        raise DataError(f"{where}: messages: missing")
    messages = _with_answer(obj["messages"], where)
    if messages[-1] is not obj["messages"][-1]:
        raise DataError(f"{where}: messages: the last message must be the assistant's answer")
    if obj.get("logprobs") is not None:
        try:
            lp.decode(obj["logprobs"])
        except ValueError as exc:
            raise DataError(f"{where}: {exc}") from None
    obj["metadata"] = _metadata(obj, where)
    _int_or_none(obj.get("created"), where, "created")
    return Read(obj, where)


def _int_or_none(v: Any, where: str, field: str) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise DataError(f"{where}: {field}: expected unix seconds (a number)")
    return int(v)
