"""Prompt files for ``completions generate``: JSONL of chat messages, or plain text lines.

- JSONL (the first non-blank line starts with ``{``): ``{"messages": [...], "metadata": {...}}``
  per line. A trailing assistant turn is dropped (the teacher answers instead), so a chat
  fine-tuning file can be relabelled by another teacher.
- Anything else: each non-blank line is one user turn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekd.errors import DataError


@dataclass(frozen=True)
class Prompt:
    messages: list[dict[str, Any]]
    metadata: dict[str, str] = field(default_factory=dict)
    line: int = 0


def check_messages(messages: Any, where: str) -> list[dict[str, Any]]:
    """Validate a ``messages`` list; ``where`` is ``FILE:LINE`` for the error message."""
    if not isinstance(messages, list) or not messages:
        raise DataError(f"{where}: messages: expected a non-empty list of chat messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise DataError(f"{where}: messages[{i}].role: expected a string role")
        content = m.get("content")
        if content is not None and not isinstance(content, str):
            if isinstance(content, list):  # content parts: keep the text ones
                m["content"] = "".join(
                    str(p.get("text", "")) for p in content if isinstance(p, dict)
                )
            else:
                raise DataError(f"{where}: messages[{i}].content: expected a string")
    return messages


def load_prompts(path: Path) -> list[Prompt]:
    """All prompts of ``path``; DataError (exit 2) naming file, line and field when bad."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the prompt file ({exc})") from None
    lines = text.splitlines()
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    prompts = _jsonl(path, lines) if first.startswith("{") else _plain(lines)
    if not prompts:
        raise DataError(f"{path}: no prompts (expected JSONL of messages or one prompt per line)")
    return prompts


def _plain(lines: list[str]) -> list[Prompt]:
    return [
        Prompt([{"role": "user", "content": ln.strip()}], line=i)
        for i, ln in enumerate(lines, 1)
        if ln.strip()
    ]


def _jsonl(path: Path, lines: list[str]) -> list[Prompt]:
    out = []
    for i, ln in enumerate(lines, 1):
        if not ln.strip():
            continue
        where = f"{path}:{i}"
        try:
            obj = json.loads(ln)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: malformed JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(obj, dict) or "messages" not in obj:
            raise DataError(f'{where}: messages: missing (expected {{"messages": [...]}})')
        messages = check_messages(obj["messages"], where)
        if messages[-1]["role"] == "assistant":
            messages = messages[:-1]
        if not messages:
            raise DataError(f"{where}: messages: nothing before the assistant turn to prompt with")
        meta = obj.get("metadata") or {}
        if not isinstance(meta, dict):
            raise DataError(f"{where}: metadata: expected an object of strings")
        out.append(Prompt(messages, {str(k): str(v) for k, v in meta.items()}, i))
    return out
