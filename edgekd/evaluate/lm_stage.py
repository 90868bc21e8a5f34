"""A causal-LM student against its teacher on a completions dataset's held-out split
(``edgekd.evaluate_lm``; the ``evaluate`` step of a ``task: causal_lm`` recipe).

- teacher-forced on the teacher's answers (``edgekd.distill.lm_score``): ``kl`` (per-token
  KL(teacher || student) over the teacher's top-k + tail), ``top1`` (agreement with the
  teacher's most likely token), ``nll``/``ppl`` of the teacher's tokens. The teacher's
  distributions are the records' own ``top_logprobs`` when every record of the split has
  them in the student's tokenizer, else the local teacher's (computed once, cached), else
  there is no ``kl``/``top1``;
- free-running: ``rouge_l``, the mean ROUGE-L F1 of the student's greedy answers against the
  teacher's answer texts (``max_new_tokens`` each, the first ``prompts`` records).

A trimmed student is read with its ``vocab_map.json``; a student trained with a task prefix
(distilling step-by-step) gets it on its prompts, as at inference.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekd.artifact import Artifact
from edgekd.errors import DataError, UsageError
from edgekd.passes import Services, pick

if TYPE_CHECKING:
    from edgekd.recipe.schema import Recipe

TOPK = 20  # teacher alternatives per position when the local teacher supplies them


def _stops(tok: Any, model: Any, vmap: Any) -> set[int]:
    """End-of-turn ids in the tokenizer's (teacher) vocabulary; a trimmed model's config holds
    its own ids, mapped back through its vocabulary map."""
    own: set[int] = set()
    for src in (getattr(model, "generation_config", None), model.config):
        v = getattr(src, "eos_token_id", None) if src is not None else None
        ids = [v] if isinstance(v, int) else list(v or [])
        own.update(int(i) for i in (ids if vmap is None else vmap.to_old(ids).tolist()))
    if tok.eos_token_id is not None:
        own.add(int(tok.eos_token_id))
    return own


def _records(data: Path, split: str, prefix: str | None) -> list[dict[str, Any]]:
    from edgekd.completions.dataset import read_dataset
    from edgekd.data.rationale import with_prefix

    try:
        records = read_dataset(Path(data), split)
    except DataError as exc:
        raise DataError(f"evaluate.lm.split: {exc}") from None
    if prefix:
        records = [{**r, "messages": with_prefix(r["messages"], prefix)} for r in records]
    return records


def _dataset_rows(tok: Any, records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The records' own teacher top-k, when every one has it in this tokenizer's ids."""
    from edgekd.distill.lm_api import check_dataset_ids
    from edgekd.teacher import lm_targets

    if not all(r.get("logprobs") is not None for r in records):
        return None
    strings = None
    if any((r.get("logprobs") or {}).get("tokens") == "strings" for r in records):
        strings = lm_targets.string_vocab(tok)
    try:
        topks = lm_targets.dataset_topk(records, strings, "evaluate")
        check_dataset_ids(tok, records, topks)
    except (UsageError, DataError):
        return None
    return topks


@dataclass
class HeldOut:
    """The student and the held-out split as token sequences with the teacher's rows: what
    the student (:func:`evaluate_lm`) and each of its exported files
    (``edgekd.evaluate.lm_files``) are scored on."""

    model: Any
    tokenizer: Any
    vmap: Any
    records: list[dict[str, Any]]
    examples: list[Any]
    index: list[int]
    rows: Any
    source: str  # "dataset" | "teacher" | "none"
    stops: set[int]
    length: int


def held_out(
    student: str | Path,
    data: str | Path,
    teacher: str | None = None,
    split: str = "test",
    max_length: int | None = None,
    cache: Any = None,
) -> HeldOut:
    """Load the student directory and build ``split`` of ``data`` (module docstring)."""
    from edgekd.cache import Cache, cache_root
    from edgekd.completions.lm_examples import build_examples
    from edgekd.distill.lm_api import model_path
    from edgekd.models.causal_lm import load_causal_lm, max_context, read_meta
    from edgekd.models.vocab_trim import VocabMap
    from edgekd.teacher import lm_targets

    path = model_path(str(student), "student") if str(student).startswith("hf:") else Path(student)
    model, tok, _ = load_causal_lm(path, "student")
    vmap = VocabMap.load(path) if path.is_dir() else None
    meta = read_meta(path) if path.is_dir() else {}
    records = _records(Path(data), split, meta.get("task_prefix"))
    stops = _stops(tok, model, vmap)
    length = max_length or int(meta.get("max_length") or min(max_context(model) or 512, 512))
    topks = _dataset_rows(tok, records)
    answer_ids = None
    if topks is not None:
        from edgekd.completions.records import record_id

        answer_ids = lambda r: topks[str(r.get("id") or record_id(r["messages"]))].sampled.tolist()  # noqa: E731
    examples, index, _ = build_examples(
        tok, records, length, stops, answer_ids, f"{data} ({split} split)"
    )
    rows, source = None, "none"
    if topks is not None:
        rows, source = lm_targets.from_dataset(examples, topks), "dataset"
    elif teacher is not None:
        t_model, t_tok, _ = load_causal_lm(model_path(teacher, "teacher"), "teacher")
        from edgekd.distill.lm_api import teacher_identity

        tid = teacher_identity(model_path(teacher, "teacher"))
        pad = int(tok.pad_token_id)
        rows, _ = lm_targets.from_teacher(
            t_model, tid, examples, TOPK, pad, cache or Cache(cache_root())
        )
        source = "teacher"
    return HeldOut(model, tok, vmap, records, examples, index, rows, source, stops, length)


def evaluate_lm(
    student: str | Path,
    data: str | Path,
    *,
    teacher: str | None = None,
    split: str = "test",
    max_new_tokens: int = 64,
    prompts: int | None = None,
    max_length: int | None = None,
    cache: Any = None,
) -> dict[str, Any]:
    """Scores of the student directory (``student``, ``hf:DIR`` or a path) on ``split`` of the
    completions dataset ``data`` (module docstring); ``teacher`` (``hf:DIR``) supplies the
    teacher's distributions when the records carry none."""
    from edgekd.distill.lm_score import teacher_forced
    from edgekd.evaluate.lm_metrics import greedy_answers, rouge_l_mean

    h = held_out(student, data, teacher, split, max_length, cache)
    pad = int(h.tokenizer.pad_token_id)
    row_source = "dataset" if h.source == "dataset" else "teacher"
    scores: dict[str, Any] = teacher_forced(h.model, h.examples, h.rows, pad, h.vmap, row_source)
    n = len(h.examples) if prompts is None else min(prompts, len(h.examples))
    answers = greedy_answers(h.model, h.tokenizer, h.examples[:n], max_new_tokens, h.stops, h.vmap)
    scores["rouge_l"] = rouge_l_mean(answers, [h.records[i] for i in h.index[:n]])
    scores.update(
        records=len(h.examples), rouge_prompts=n, targets=h.source, split=split,
        max_length=h.length,
    )  # fmt: skip
    scores["answers"] = answers
    return scores


def run(inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services) -> list[Artifact]:
    """The pass: the student's scores (:func:`evaluate_lm` on ``evaluate.lm``) as its metrics,
    its greedy answers in ``answers.jsonl``; then each exported file that passed its gate,
    scored by its runtime on the same split (``edgekd.evaluate.lm_files``)."""
    import json

    from edgekd.fileio import atomic_write_text

    art = pick(inputs, "student")
    files = [a for a in inputs if a.format in ("onnx", "tflite") and a.status == "ok"]
    ev = cfg.evaluate.lm
    task = env.reporter.task("evaluate LM student and its files", 1 + len(files))
    scores = evaluate_lm(
        run_dir / art.extra["hf_dir"],
        Path(cfg.data.path or ""),
        teacher=cfg.teacher.model,
        split=ev.split,
        max_new_tokens=ev.max_new_tokens,
        prompts=ev.prompts,
        cache=env.cache,
    )
    task.update(1)
    answers = scores.pop("answers")
    atomic_write_text(
        run_dir / "answers.jsonl", "".join(json.dumps({"answer": a}) + "\n" for a in answers)
    )
    art.metrics.update(
        {k: float(scores[k]) for k in ("kl", "top1", "nll", "ppl", "rouge_l") if k in scores}
    )
    keys = ("split", "records", "rouge_prompts", "targets", "max_length")
    art.extra["evaluate"] = {**{k: scores[k] for k in keys}, "answers": "answers.jsonl"}
    if files:
        from edgekd.evaluate.lm_files import evaluate_lm_file

        h = held_out(
            run_dir / art.extra["hf_dir"], Path(cfg.data.path or ""), cfg.teacher.model,
            ev.split, None, env.cache,
        )  # fmt: skip
        for i, f in enumerate(files):
            threads = cfg.threads or None
            s = evaluate_lm_file(f.absolute(run_dir), h, answers, ev.max_new_tokens, threads)
            names = ("kl", "top1", "nll", "ppl", "rouge_l", "agreement", "greedy_match")
            f.metrics.update({k: float(s[k]) for k in names if s.get(k) is not None})
            f.extra["evaluate"] = {
                k: s[k]
                for k in ("records", "rouge_prompts", "context", "skipped_longer_than_context")
            }
            task.update(2 + i, f.id)
    task.close()
    return [art, *files]
