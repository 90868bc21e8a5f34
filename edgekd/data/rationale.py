"""Distilling step-by-step (Hsieh et al. 2023): a teacher answer with a rationale becomes two
training tasks on the same prompt, told apart by a prefix on the last user turn.

A record carries a rationale when its answer message has a ``rationale`` field (the answer is
then its ``content``), or when its answer text contains ``separator`` (the rationale is the
text before it, the answer the text after it: a chain-of-thought reply such as "... So the
answer is: B"). Records without one train the answer task only. At inference the student
is prompted with the answer prefix and writes only the answer, which is what makes it
cheaper than the teacher (no rationale tokens to generate).
"""

from __future__ import annotations

import copy
from typing import Any

from edgekd.errors import DataError


def split_rationale(record: dict[str, Any], separator: str | None) -> tuple[str, str] | None:
    """(rationale, answer) of a record's final answer, or None when it has no rationale."""
    msg = record["messages"][-1]
    if isinstance(msg.get("rationale"), str) and msg["rationale"].strip():
        return msg["rationale"].strip(), str(msg.get("content") or "").strip()
    text = str(msg.get("content") or "")
    if separator and separator in text:
        rationale, _, answer = text.partition(separator)
        if rationale.strip() and answer.strip():
            return rationale.strip(), answer.strip()
    return None


def with_prefix(messages: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """The prompt with ``prefix`` before the content of its last user turn."""
    out = copy.deepcopy(messages)
    for m in reversed(out[:-1]):
        if m["role"] == "user":
            m["content"] = prefix + str(m.get("content") or "")
            return out
    raise DataError("a record has no user turn to put the task prefix on")


def task_records(
    record: dict[str, Any], separator: str | None, answer_prefix: str, rationale_prefix: str
) -> list[tuple[dict[str, Any], str]]:
    """[(record, task)]: the answer task, and the rationale task when there is a rationale.
    The rationale is a finished text (it ends before the answer), so it is learned to its
    end-of-turn; the answer keeps the record's ``finish_reason``."""
    parts = split_rationale(record, separator)
    answer_rec = dict(record)
    msgs = with_prefix(record["messages"], answer_prefix)
    if parts is not None:
        msgs[-1] = {k: v for k, v in msgs[-1].items() if k != "rationale"}
        msgs[-1]["content"] = parts[1]
    answer_rec["messages"] = msgs
    out = [(answer_rec, "answer")]
    if parts is not None:
        rat = dict(record)
        rat_msgs = with_prefix(record["messages"], rationale_prefix)
        rat_msgs[-1] = {"role": "assistant", "content": parts[0]}
        rat["messages"], rat["finish_reason"] = rat_msgs, "stop"
        out.append((rat, "rationale"))
    return out
