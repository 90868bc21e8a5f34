"""The body of ``edgekd.distill_lm``: models, checks, examples, targets, training, saving
(the order is in ``edgekd.distill.lm_api``'s docstring)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgekd.completions.lm_examples import LMExample, build_examples, stop_token_ids
from edgekd.distill.lm_api import (
    LMResult,
    LMStudent,
    _groups,
    check_dataset_ids,
    model_path,
    teacher_identity,
)
from edgekd.distill.lm_config import LMDistillConfig
from edgekd.distributed import world
from edgekd.errors import RecipeError
from edgekd.progress import epoch_info

TOKENIZER_SAMPLES = 16


def load_models(
    teacher_path: Path | None, student: LMStudent
) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
    """(teacher model or None, teacher tokenizer or None, student model, student tokenizer,
    info)."""
    from edgekd.models.causal_lm import layer_subset, load_causal_lm

    t_model = t_tok = None
    info: dict[str, Any] = {}
    if teacher_path is not None:
        t_model, t_tok, t_info = load_causal_lm(teacher_path, "teacher.model")
        info["teacher"] = {**t_info, "id": teacher_identity(teacher_path)}
    if student.layers is not None:
        if student.model is not None:
            raise RecipeError(
                "student: init_from_teacher builds the student from the teacher's layers; "
                "drop student.model"
            )
        assert t_model is not None
        s_model = layer_subset(t_model, list(student.layers), "student.init_from_teacher.layers")
        s_tok = t_tok
        info["student"] = {
            "init_from_teacher": {
                "layers": list(student.layers),
                "teacher_layers": int(t_model.config.num_hidden_layers),
            }
        }
    elif student.model is not None:
        s_model, s_tok, s_info = load_causal_lm(
            model_path(student.model, "student.model"), "student.model"
        )
        info["student"] = s_info
    else:
        raise RecipeError("student: give student.model (hf:DIR) or student.init_from_teacher")
    return t_model, t_tok, s_model, s_tok, info


def _samples(records: Sequence[dict[str, Any]]) -> list[str]:
    """Texts for the tokenizer check: prompts and answers of the first records."""
    out: list[str] = []
    for r in records[:TOKENIZER_SAMPLES]:
        out.extend(str(m.get("content") or "") for m in r["messages"])
    return [s for s in out if s]


def _source(cfg: LMDistillConfig, all_lp: bool, has_teacher: bool) -> str:
    """Where token-level targets come from: ``dataset``, ``teacher`` (cached top-k) or
    ``full`` (the teacher's logits per batch); ``none`` for sft."""
    if cfg.method != "kd":
        return "none"
    if cfg.top_k is None:
        return "full"
    if cfg.teacher_logprobs == "dataset" or (cfg.teacher_logprobs == "auto" and all_lp):
        return "dataset"
    return "teacher"


def _examples(
    tok: Any,
    groups: list[list[tuple[dict[str, Any], str]]],
    max_length: int,
    stops: set[int],
    topks: dict[str, Any] | None,
    where: str,
) -> tuple[list[LMExample], list[list[int]], dict[str, Any]]:
    """(examples, groups of example indices trained together, build info)."""
    from edgekd.completions.records import record_id

    flat = [(r, task, g) for g, items in enumerate(groups) for r, task in items]

    def answer_ids(r: dict[str, Any]) -> Any:
        assert topks is not None
        return topks[str(r.get("id") or record_id(r["messages"]))].sampled.tolist()

    examples, index, info = build_examples(
        tok,
        [r for r, _, _ in flat],
        max_length,
        stops,
        None if topks is None else answer_ids,
        where,
        [task for _, task, _ in flat],
    )
    by_group: dict[int, list[int]] = {}
    for j, i in enumerate(index):
        by_group.setdefault(flat[i][2], []).append(j)
    return examples, list(by_group.values()), info.as_dict()


def build_and_train(
    out: Path,
    cfg: LMDistillConfig,
    student: LMStudent,
    train_records: list[dict[str, Any]],
    val_records: list[dict[str, Any]],
    teacher_path: Path | None,
    cache: Any,
    reporter: Any,
    all_lp: bool,
    checkpoint: Path | None = None,
) -> LMResult:
    from edgekd.distill.lm_score import teacher_forced
    from edgekd.distill.lm_train import LMTrainSet, train_lm
    from edgekd.models.causal_lm import check_context, count_params, save_student
    from edgekd.models.tokenizer_check import check_same_tokenizer
    from edgekd.models.vocab_trim import choose_kept, trim_model
    from edgekd.teacher import lm_targets

    t_model, t_tok, s_model, s_tok, info = load_models(teacher_path, student)
    field = "distill.lm.max_length"
    check_context(s_model, cfg.max_length, field, "student")
    source = _source(cfg, all_lp, t_model is not None)
    if t_model is not None and (source in ("teacher", "full") or cfg.lmbda > 0):
        check_context(t_model, cfg.max_length, field, "teacher")
    if cfg.method == "kd" and t_tok is not None and s_tok is not t_tok:
        check_same_tokenizer(t_tok, s_tok, _samples(train_records), "distill.lm")
    stops = stop_token_ids(s_tok, s_model.config, getattr(s_model, "generation_config", None))
    topks, topks_val, note = _teacher_tokens(cfg, source, s_tok, train_records, val_records)
    if note:
        info["answers_from_text"] = note
    examples, groups, build_info = _examples(
        s_tok, _groups(train_records, cfg), cfg.max_length, stops, topks, "dataset train split"
    )
    val_examples: list[LMExample] = []
    if val_records and (topks is None or topks_val is not None):
        val_examples, _, _ = _examples(
            s_tok, _groups(val_records, cfg), cfg.max_length, stops, topks_val, "val split"
        )
    vmap = None
    if student.trim_vocab:
        vmap = choose_kept([e.input_ids for e in examples], s_tok, int(s_model.config.vocab_size))
        trim_model(s_model, vmap)
    pad_id = int(s_tok.pad_token_id)
    rows = val_rows = None
    hit = None
    fill: list[int] = []  # examples each rank ran the teacher on
    k = cfg.top_k or 0
    if source == "dataset":
        assert topks is not None
        rows = lm_targets.from_dataset(examples, topks, k)
        val_rows = lm_targets.from_dataset(val_examples, topks_val, k) if topks_val else None
    elif source == "teacher":
        tid = info["teacher"]["id"]
        task = reporter.task("teacher top-k log-probs", len(examples) + len(val_examples))
        rows, hit = lm_targets.from_teacher(
            t_model, tid, examples, k, pad_id, cache, progress=lambda d, n: task.update(d),
            counts=fill,
        )  # fmt: skip
        if val_examples:
            val_rows, _ = lm_targets.from_teacher(t_model, tid, val_examples, k, pad_id, cache)
        task.close()
    row_source = "dataset" if source == "dataset" else "teacher"
    train_set = LMTrainSet(examples, groups, rows, row_source)

    def validate(model: Any) -> dict[str, float]:
        if not val_examples:
            return {}
        m = teacher_forced(model, val_examples, val_rows, pad_id, vmap, row_source)
        return {f"val_{k2}": v for k2, v in m.items() if k2 in ("nll", "kl", "top1")}

    bar = reporter.task("distill LM student", cfg.steps)
    try:
        hist = train_lm(
            s_model,
            train_set,
            cfg,
            pad_id=pad_id,
            stop_ids=stops,
            vmap=vmap,
            teacher=t_model,
            validate=validate,
            progress=lambda d, n, i: bar.update(d, epoch_info(i)),
            checkpoint=checkpoint,
        )
    finally:
        bar.close()
    if not world.is_main():  # rank 0 saves the student
        return LMResult(out, hist.to_dict(), info)
    if hist.state is not None:  # FSDP sharded the student: save the gathered whole weights
        from edgekd.distill.lm_parallel import plain_copy

        s_model = plain_copy(s_model, hist.state)
    meta = _meta(cfg, student, info, source, vmap, build_info)
    meta["params"] = count_params(s_model)
    path = save_student(s_model, s_tok, out, meta, vmap)
    info.update(
        source=source,
        teacher_cache_hit=hit,
        teacher_rows=fill,
        examples=build_info,
        val_examples=len(val_examples),
        params=meta["params"],
        vocab={"trimmed": vmap is not None, "size": int(s_model.config.vocab_size)},
    )
    return LMResult(path, hist.to_dict(), info)


def _teacher_tokens(
    cfg: LMDistillConfig,
    source: str,
    tok: Any,
    train: Sequence[dict[str, Any]],
    val: Sequence[dict[str, Any]],
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, str]:
    """(train top-k, val top-k, note): the records' own teacher tokens, used as the answers
    whenever every record has them in this tokenizer (exactly what the teacher wrote, its
    stop token included); otherwise the answers are tokenized from their text (``note``
    says why), which only ``source == "dataset"`` cannot accept."""
    from edgekd.errors import UsageError
    from edgekd.teacher import lm_targets

    if cfg.rationale is not None:
        return None, None, "" if source != "dataset" else "rationale tasks are text"
    if not all(r.get("logprobs") is not None for r in train):
        return None, None, ""
    strings = lm_targets.string_vocab(tok) if _has_strings(train) else None
    try:
        topks = lm_targets.dataset_topk(train, strings, "dataset train split")
        check_dataset_ids(tok, train, topks)
    except UsageError as exc:
        if source == "dataset":
            raise
        return None, None, str(exc)
    topks_val = None
    if val and all(r.get("logprobs") is not None for r in val):
        topks_val = lm_targets.dataset_topk(val, strings, "dataset val split")
    return topks, topks_val, ""


def _has_strings(records: Sequence[dict[str, Any]]) -> bool:
    return any((r.get("logprobs") or {}).get("tokens") == "strings" for r in records)


def _meta(
    cfg: LMDistillConfig,
    student: LMStudent,
    info: dict[str, Any],
    source: str,
    vmap: Any,
    build_info: dict[str, Any],
) -> dict[str, Any]:
    return {
        "format": "edgekd.lm_student.v1",
        "teacher": info.get("teacher", {}).get("id"),
        "method": cfg.method,
        "divergence": cfg.divergence if cfg.method == "kd" else None,
        "targets": source,
        "init_from_teacher": None if student.layers is None else list(student.layers),
        "vocab_trimmed": vmap is not None,
        "max_length": cfg.max_length,
        "task_prefix": cfg.rationale.answer_prefix if cfg.rationale is not None else None,
        "examples": build_info,
    }
