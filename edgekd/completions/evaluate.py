"""``completions eval``: a student against the teacher's answers on a dataset split.

The student answers the split's prompts through the same generation loop as a teacher
(``hf:PATH`` or ``openai:MODEL``; its answers are kept in the run directory, so a rerun
does not pay for them again), or its answers are read from a JSONL file (any import format;
matched to the teacher's records by prompt). Each grader of :data:`graders.GRADERS` asked
for scores every pair; the report (``eval.json`` and ``eval.md`` in the run directory) has
each grader's mean, the number of pairs it scored, and the same per metadata value.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from edgekd.completions import graders as gr
from edgekd.completions import records as rec
from edgekd.completions.dataset import read_dataset, topk
from edgekd.completions.prompts import Prompt
from edgekd.completions.readers import read_file
from edgekd.errors import UsageError
from edgekd.fileio import atomic_write_json, atomic_write_text
from edgekd.progress import Reporter


def student_answers_from_file(path: Path) -> dict[str, dict[str, Any]]:
    """prompt hash -> the student's record, from a JSONL of answers."""
    out = {}
    for r in read_file(path):
        if not r.failed:
            out[rec.prompt_hash(r.record["messages"])] = r.record
    return out


def _student_tokens(student: dict[str, Any], teacher: dict[str, Any], decode: Any) -> Any:
    """The student's answer tokens, when they are comparable with the teacher's."""
    s, t = topk(student), topk(teacher)
    if s is None or t is None or s.tokens != t.tokens:
        return None
    if s.tokens == "strings":
        return s.token_strings()
    # ids: only when the student's tokenizer reads the teacher's ids as the teacher's text
    n = len(t) - (1 if teacher.get("finish_reason") == "stop" else 0)
    if decode is None or decode(t.sampled[:n].tolist()).strip() != rec.answer(teacher).strip():
        return None
    return s.sampled.tolist()


def grade(
    teacher_records: list[dict[str, Any]],
    student: dict[str, dict[str, Any]],
    names: list[str],
    ctx: gr.GradeContext,
    decode: Any = None,
) -> dict[str, Any]:
    """Score every (student, teacher) pair with each grader; means overall and by metadata."""
    unknown = [n for n in names if n not in gr.GRADERS]
    if unknown:
        raise UsageError(f"--grader {unknown[0]!r}: expected one of {', '.join(gr.GRADERS)}")
    scores: dict[str, list[float]] = {n: [] for n in names}
    by_meta: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    rows, missing = [], 0
    for t in teacher_records:
        s = student.get(rec.prompt_hash(t["messages"]))
        if s is None:
            missing += 1
            continue
        toks = _student_tokens(s, t, decode)
        if toks is not None:
            ctx.student_tokens[str(t["id"])] = toks
        row: dict[str, Any] = {"id": t["id"]}
        for n in names:
            v = gr.GRADERS[n](rec.answer(s), t, ctx)
            row[n] = v
            if v is not None:
                scores[n].append(v)
                for k, val in (t.get("metadata") or {}).items():
                    by_meta[f"{k}={val}"][n].append(v)
        rows.append(row)
    return {
        "pairs": len(rows),
        "missing_student_answers": missing,
        "graders": {
            n: {"mean": _mean(v), "scored": len(v), "scale": "1-5" if n == "llm" else "0-1"}
            for n, v in scores.items()
        },
        "by_metadata": {
            m: {n: {"mean": _mean(v), "scored": len(v)} for n, v in g.items()}
            for m, g in sorted(by_meta.items())
        },
        "rows": rows,
    }


def _mean(v: list[float]) -> float | None:
    return round(sum(v) / len(v), 4) if v else None


def evaluate(
    student: str,
    dataset: Path,
    out: Path,
    *,
    split: str = "test",
    graders: list[str] | None = None,
    labels: list[str] | None = None,
    max_tokens: int | None = None,
    endpoint: Any = None,
    judge: str | None = None,
    rubric: str = gr.RUBRIC,
    limit: int | None = None,
    reporter: Reporter | None = None,
) -> dict[str, Any]:
    """Run the evaluation and write ``eval.json``/``eval.md`` into ``out`` (a directory)."""
    from edgekd.completions.generate import generate
    from edgekd.completions.teacher_types import Settings
    from edgekd.completions.teachers import build_teacher

    names = list(graders or gr.DEFAULT_GRADERS)
    if "llm" in names and judge is None:
        raise UsageError("--grader llm needs --judge openai:MODEL (the grading endpoint)")
    if "label_agreement" in names and not labels:
        raise UsageError("--grader label_agreement needs --labels A,B,...")
    records = read_dataset(dataset, split)[:limit]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    decode = None
    from edgekd.completions.teachers import TEACHER_KINDS

    if student.partition(":")[0] not in TEACHER_KINDS:
        if not Path(student).is_file():
            raise UsageError(
                f"--student {student!r}: expected hf:PATH, openai:MODEL or a JSONL of answers"
            )
        answers = student_answers_from_file(Path(student))
    else:
        t = build_teacher(student, endpoint, batch_size=8)
        longest = max((len(topk(r) or ()) for r in records), default=0)
        settings = Settings(max_tokens=max_tokens or max(longest, 64), top_logprobs=1)
        prompts = [Prompt(rec.prompt_messages(r), dict(r.get("metadata") or {})) for r in records]
        log = out / "student.jsonl"
        generate(t, prompts, log, settings, resume=True, reporter=reporter)
        answers = student_answers_from_file(log)
        tok = getattr(t, "tokenizer", None)
        decode = None if tok is None else (lambda ids: tok.decode(ids, skip_special_tokens=True))
    ctx = gr.GradeContext(labels=tuple(labels or ()))
    if judge is not None:
        ctx.llm = _judge(judge, endpoint, rubric)
    result = grade(records, answers, names, ctx, decode)
    result.update(student=student, dataset=str(dataset), split=split)
    atomic_write_json(out / "eval.json", result)
    atomic_write_text(out / "eval.md", render(result))
    return result


def _judge(spec: str, endpoint: Any, rubric: str) -> Any:
    from edgekd.completions.client import EndpointClient
    from edgekd.completions.teacher_types import Settings
    from edgekd.completions.teachers import EndpointOptions

    kind, _, model = spec.partition(":")
    if kind != "openai" or not model:
        raise UsageError(f"--judge {spec!r}: expected openai:MODEL")
    client = EndpointClient(model, endpoint or EndpointOptions())
    settings = Settings(max_tokens=4, temperature=0.0)

    def ask(prompt: str, ref: str, pred: str) -> float | None:
        try:
            body = client.chat(gr.judge_messages(rubric, prompt, ref, pred), settings)
            return gr.parse_score(str(body["choices"][0]["message"]["content"] or ""))
        except (RuntimeError, KeyError, IndexError, TypeError):
            return None

    return ask


def render(result: dict[str, Any]) -> str:
    """The report as Markdown: one table overall, one per metadata value."""
    lines = [
        f"# Student vs teacher: {result['student']} on {result['dataset']} ({result['split']})",
        "",
        f"{result['pairs']} pairs; {result['missing_student_answers']} prompts without a "
        "student answer.",
        "",
        "| grader | mean | scored | scale |",
        "|---|---|---|---|",
    ]
    for n, g in result["graders"].items():
        mean = "n/a" if g["mean"] is None else f"{g['mean']:.4f}"
        lines.append(f"| {n} | {mean} | {g['scored']} | {g['scale']} |")
    if result["by_metadata"]:
        names = list(result["graders"])
        lines += ["", "| metadata | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for m, g in result["by_metadata"].items():
            cells = [
                "n/a" if g.get(n, {}).get("mean") is None else f"{g[n]['mean']:.3f}" for n in names
            ]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def dumps(result: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2)
