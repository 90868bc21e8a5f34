"""How close a causal-LM student is to its teacher on held-out answers.

Teacher-forced (``kl``, ``top1``, ``nll``, ``ppl`` on the teacher's own answer tokens):
:func:`edgekd.distill.lm_score.teacher_forced`, also what training validates with.
Free-running: :func:`greedy_answers` decodes each prompt greedily, and ``rouge_l`` is the
mean ROUGE-L F1 (``edgekd.completions.graders.rouge_l``) of those answers against the
teacher's answer texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from edgekd.completions.lm_examples import LMExample
from edgekd.distill.lm_score import teacher_forced
from edgekd.models.vocab_trim import VocabMap

__all__ = ["greedy_answers", "rouge_l_mean", "teacher_forced"]


def greedy_answers(
    model: Any,
    tokenizer: Any,
    examples: Sequence[LMExample],
    max_new_tokens: int,
    stop_ids: set[int],
    vmap: VocabMap | None = None,
    batch_size: int = 16,
) -> list[str]:
    """Each example's prompt continued greedily (left-padded batches), decoded as text."""
    from edgekd.distill.on_policy import generate

    out: list[str] = []
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        prompts = [ex.input_ids[: ex.prompt_len] for ex in chunk]
        for completion in generate(
            model, prompts, max_new_tokens, stop_ids, vmap, tokenizer.pad_token_id, None
        ):
            ids = [t for t in completion.tolist() if t not in stop_ids]
            out.append(tokenizer.decode(ids, skip_special_tokens=True).strip())
    return out


def rouge_l_mean(answers: Sequence[str], records: Sequence[dict[str, Any]]) -> float:
    from edgekd.completions.graders import GradeContext, rouge_l

    ctx = GradeContext()
    scores = [rouge_l(a, r, ctx) for a, r in zip(answers, records, strict=True)]
    return float(np.mean([s for s in scores if s is not None])) if scores else 0.0
