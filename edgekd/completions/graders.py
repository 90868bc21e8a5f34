"""Graders for ``completions eval``: each maps (student answer, teacher record) to a score.

Graders are data: one dict, ``GRADERS``, of name -> function; ``eval`` runs the ones asked
for and reports each one's mean. Scores are in [0, 1] except ``llm`` (1-5, a rubric).
A grader that cannot score a pair (no label parsed, no grader endpoint) returns None, and
the pair is left out of that grader's mean (the count of scored pairs is reported).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgekd.completions import records as rec
from edgekd.completions.labels import parse_label

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


@dataclass
class GradeContext:
    """What graders may need beyond the two answers."""

    labels: Sequence[str] = ()
    student_tokens: dict[str, list[Any]] = field(default_factory=dict)  # record id -> tokens
    llm: Callable[[str, str, str], float | None] | None = None  # (prompt, ref, pred) -> 1..5


def words(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def exact_match(pred: str, record: dict[str, Any], ctx: GradeContext) -> float | None:
    """1 when the answers are equal after case and whitespace normalisation."""
    return float(" ".join(pred.lower().split()) == " ".join(rec.answer(record).lower().split()))


def label_agreement(pred: str, record: dict[str, Any], ctx: GradeContext) -> float | None:
    """1 when both answers name the same label (None without labels or a teacher label)."""
    if not ctx.labels:
        return None
    ref = parse_label(rec.answer(record), ctx.labels)
    if ref is None:
        return None
    return float(parse_label(pred, ctx.labels) == ref)


def lcs_length(a: Sequence[Any], b: Sequence[Any]) -> int:
    """Longest common subsequence length, O(len(a) * len(b)) with one row of memory."""
    if len(a) < len(b):
        a, b = b, a
    row = [0] * (len(b) + 1)
    for x in a:
        prev = 0
        for j, y in enumerate(b, 1):
            cur = row[j]
            row[j] = prev + 1 if x == y else max(row[j], row[j - 1])
            prev = cur
    return row[-1]


def rouge_l(pred: str, record: dict[str, Any], ctx: GradeContext) -> float | None:
    """ROUGE-L F1 over word tokens (Lin 2004, "ROUGE: A Package for Automatic Evaluation of
    Summaries"): P = LCS/|pred|, R = LCS/|ref|, F = 2PR/(P+R)."""
    p, r = words(pred), words(rec.answer(record))
    if not p or not r:
        return float(p == r)
    lcs = lcs_length(p, r)
    if lcs == 0:
        return 0.0
    prec, recall = lcs / len(p), lcs / len(r)
    return 2 * prec * recall / (prec + recall)


def token_agreement(pred: str, record: dict[str, Any], ctx: GradeContext) -> float | None:
    """Share of the teacher's answer tokens the student emitted at the same position.

    In the teacher's tokens when the student's generation record has them in the same form
    (ids from a local model, strings from an endpoint) and the teacher's record has
    log-probs; otherwise in word tokens.
    """
    from edgekd.completions.dataset import topk

    tk = topk(record)
    mine = ctx.student_tokens.get(str(record.get("id")))
    if tk is not None and mine is not None and mine and isinstance(mine[0], type(_first(tk))):
        ref: list[Any] = tk.sampled.tolist() if tk.tokens == "ids" else tk.token_strings()
    else:
        ref, mine = words(rec.answer(record)), words(pred)
    if not ref:
        return None
    return sum(1 for a, b in zip(ref, mine, strict=False) if a == b) / len(ref)


def _first(tk: Any) -> Any:
    return 0 if tk.tokens == "ids" else ""


def llm_grade(pred: str, record: dict[str, Any], ctx: GradeContext) -> float | None:
    """1-5 from an LLM judge with a rubric (None when no grader endpoint was given)."""
    if ctx.llm is None:
        return None
    user = [m for m in record["messages"][:-1] if m["role"] == "user"]
    prompt = str(user[-1].get("content") or "") if user else ""
    return ctx.llm(prompt, rec.answer(record), pred)


GRADERS: dict[str, Callable[[str, dict[str, Any], GradeContext], float | None]] = {
    "exact_match": exact_match,
    "label_agreement": label_agreement,
    "rouge_l": rouge_l,
    "token_agreement": token_agreement,
    "llm": llm_grade,
}
DEFAULT_GRADERS = ("exact_match", "rouge_l", "token_agreement")

RUBRIC = """You grade a student model's answer against a reference answer from a teacher model.
Score 1-5: 5 = same meaning and quality as the reference; 4 = minor omissions or wording
differences; 3 = partly right or partly off-topic; 2 = mostly wrong or unhelpful;
1 = wrong, empty or unrelated. Reply with the score digit only."""


def parse_score(text: str) -> float | None:
    """The first digit 1-5 in a judge's reply."""
    m = re.search(r"[1-5]", text)
    return float(m.group()) if m else None


def judge_messages(rubric: str, prompt: str, ref: str, pred: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": rubric},
        {
            "role": "user",
            "content": f"Question:\n{prompt}\n\nReference answer:\n{ref}\n\n"
            f"Student answer:\n{pred}\n\nScore (1-5):",
        },
    ]
