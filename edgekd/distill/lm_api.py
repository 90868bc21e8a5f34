"""``edgekd.distill_lm``: a causal-LM student from a completions dataset and its teacher.

The steps, each checked before any training starts:

1. the dataset's train (and val) records (``edgekd.read_completions``);
2. the teacher (``hf:DIR`` or ``hf:FILE.gguf``), needed by a layer-subset student, a
   token-level loss without dataset log-probs, full-logit KD and on-policy batches;
3. the student: ``layers`` of the teacher (``init_from_teacher``) or ``hf:DIR``;
4. the context length against both models' maximum;
5. for token-level losses, one tokenizer (``edgekd.models.tokenizer_check``) and the
   teacher's targets: the dataset's ``top_logprobs`` (checked to be this tokenizer's:
   the teacher's tokens must decode to its answer text) or the local teacher's, cached;
6. examples, vocabulary trimming (``edgekd.models.vocab_trim``), training
   (``edgekd.distill.lm_train``), and the student saved as a Hugging Face directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekd.distill.lm_config import LMDistillConfig
from edgekd.errors import DataError, RecipeError, UsageError


@dataclass(frozen=True)
class LMStudent:
    """The student: ``layers`` of the teacher (``init_from_teacher``), or ``model`` (``hf:DIR``,
    a config-only directory builds fresh weights); ``trim_vocab`` keeps only the tokens the
    training data uses (plus specials)."""

    model: str | None = None
    layers: tuple[int, ...] | None = None
    trim_vocab: bool = False


@dataclass
class LMResult:
    path: Path
    history: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)


def model_path(spec: str, field: str) -> Path:
    """``hf:PATH`` -> PATH (the only source a causal LM has)."""
    source, sep, name = spec.partition(":")
    if not sep or source != "hf" or not name.strip():
        raise RecipeError(f"{field}: {spec!r}: task causal_lm takes hf:DIR or hf:FILE.gguf")
    return Path(name.strip()).expanduser()


def teacher_identity(path: Path) -> str:
    """``hf:NAME@HASH``, the id ``edgekd completions generate`` writes into its records."""
    from edgekd.completions.hf_teacher import fingerprint

    return f"hf:{path.name}@{fingerprint(path)}"


def _needs_teacher(cfg: LMDistillConfig, student: LMStudent, has_dataset_logprobs: bool) -> str:
    """Why the local teacher is needed ('' when it is not)."""
    if student.layers is not None:
        return "the student takes its layers from it"
    if cfg.method != "kd":
        return ""
    if cfg.top_k is None:
        return "top_k: null distills from its full logits"
    if cfg.lmbda > 0:
        return "on-policy batches (lmbda > 0) are scored by it"
    if cfg.teacher_logprobs == "teacher":
        return "teacher_logprobs: teacher"
    if cfg.teacher_logprobs == "auto" and not has_dataset_logprobs:
        return "the dataset's records do not all carry top_logprobs"
    return ""


def _records(path: Path, split: str) -> list[dict[str, Any]]:
    from edgekd.completions.dataset import read_dataset

    try:
        return read_dataset(Path(path), split)
    except DataError:
        if split == "train":
            raise
        return []


def _groups(
    records: Sequence[dict[str, Any]], cfg: LMDistillConfig
) -> list[list[tuple[dict[str, Any], str]]]:
    """Per record, the (record, task) pairs trained together (two under distilling
    step-by-step)."""
    if cfg.rationale is None:
        return [[(r, "answer")] for r in records]
    from edgekd.data.rationale import task_records

    rc = cfg.rationale
    return [task_records(r, rc.separator, rc.answer_prefix, rc.rationale_prefix) for r in records]


def check_dataset_ids(tokenizer: Any, records: Sequence[dict[str, Any]], topks: dict) -> None:
    """The dataset's token ids are this tokenizer's: the teacher's tokens of the first records
    decode to their answer texts (else the targets would be another vocabulary's)."""
    from edgekd.completions.records import answer, record_id

    for r in list(records)[:8]:
        tk = topks[str(r.get("id") or record_id(r["messages"]))]
        text = tokenizer.decode(tk.sampled.tolist(), skip_special_tokens=True).strip()
        if text != answer(r).strip():
            raise UsageError(
                f"the dataset's top_logprobs are token ids of another tokenizer (record "
                f"{r.get('id')}: its teacher tokens decode to {text[:40]!r}, the answer is "
                f"{answer(r)[:40]!r}); name that teacher, or use distill.lm.method: sft"
            )


def distill_lm(
    data: str | Path,
    out: str | Path,
    cfg: LMDistillConfig | None = None,
    *,
    teacher: str | None = None,
    student: LMStudent | None = None,
    cache: Any = None,
    reporter: Any = None,
    checkpoint: str | Path | None = None,
) -> LMResult:
    """Train a causal-LM student on a completions dataset (module docstring) and save it in
    ``out`` as a Hugging Face directory. With ``checkpoint`` (a file), training state is
    saved there at every validation and resumed from when it exists (with any number of
    processes). Under a launcher (``torchrun``) every rank calls this; only rank 0 saves."""
    from edgekd.cache import Cache, cache_root
    from edgekd.completions.dataset import read_dataset
    from edgekd.progress import NullReporter

    cfg = cfg or LMDistillConfig()
    student = student or LMStudent()
    cache = cache or Cache(cache_root())
    reporter = reporter or NullReporter()
    train_records = read_dataset(Path(data), "train")
    val_records = _records(Path(data), "val")
    all_lp = all(r.get("logprobs") is not None for r in train_records)
    why = _needs_teacher(cfg, student, all_lp)
    if why and teacher is None:
        raise RecipeError(
            f"teacher.model: a local teacher (hf:DIR or hf:FILE.gguf) is needed: {why}"
        )
    from edgekd.distill.lm_build import build_and_train

    return build_and_train(
        Path(out),
        cfg,
        student,
        train_records,
        val_records,
        None if teacher is None else model_path(teacher, "teacher.model"),
        cache,
        reporter,
        all_lp,
        None if checkpoint is None else Path(checkpoint),
    )
