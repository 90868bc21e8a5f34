"""Teacher and student must share a tokenizer for token-level losses.

A token-level divergence compares the two next-token distributions id by id, so the ids
must mean the same text. :func:`check_same_tokenizer` runs at start-up, before any
training, and stops at the first difference: the vocabulary size, a special token, a
token's text, or the encoding of a sample of the training texts. Sequence-level
distillation (fine-tuning on the teacher's answers) needs none of this and works across
tokenizers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from edgekd.errors import UsageError

SPECIAL_ATTRS = ("bos_token", "eos_token", "unk_token")
HINT = "token-level losses need one tokenizer; across tokenizers use distill.lm.method: sft"


class TokenizerMismatch(UsageError):
    """Teacher and student tokenizers differ where a token-level loss needs them equal."""


def _short(text: str, n: int = 40) -> str:
    return repr(text if len(text) <= n else text[: n - 1] + "…")


def first_difference(teacher: Any, student: Any, samples: Sequence[str]) -> str | None:
    """A sentence naming the first difference, or None when the tokenizers agree."""
    if len(teacher) != len(student):
        return f"vocabulary sizes differ: teacher {len(teacher)}, student {len(student)} tokens"
    for attr in SPECIAL_ATTRS:
        a, b = getattr(teacher, attr, None), getattr(student, attr, None)
        if str(a) != str(b):
            return f"special token {attr} differs: teacher {a!r}, student {b!r}"
    tv, sv = teacher.get_vocab(), student.get_vocab()
    t_by_id = {i: t for t, i in tv.items()}
    s_by_id = {i: t for t, i in sv.items()}
    for i in sorted(set(t_by_id) | set(s_by_id)):
        if t_by_id.get(i) != s_by_id.get(i):
            return f"token id {i} differs: teacher {t_by_id.get(i)!r}, student {s_by_id.get(i)!r}"
    for n, text in enumerate(samples):
        a = teacher(text, add_special_tokens=False)["input_ids"]
        b = student(text, add_special_tokens=False)["input_ids"]
        if a != b:
            j = next((j for j, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
            j = min(len(a), len(b)) if j is None else j
            ta = teacher.convert_ids_to_tokens(a[j]) if j < len(a) else "(end)"
            sb = student.convert_ids_to_tokens(b[j]) if j < len(b) else "(end)"
            return (
                f"sample {n} {_short(text)} encodes differently at token {j}: teacher "
                f"{a[j] if j < len(a) else None} ({ta!r}), student "
                f"{b[j] if j < len(b) else None} ({sb!r})"
            )
    return None


def check_same_tokenizer(teacher: Any, student: Any, samples: Sequence[str], where: str) -> None:
    """Raise :class:`TokenizerMismatch` (exit 2) at the first difference."""
    diff = first_difference(teacher, student, samples)
    if diff is not None:
        raise TokenizerMismatch(f"{where}: teacher and student tokenizers differ: {diff}; {HINT}")
