"""How close a causal-LM student is to its teacher on held-out answers.

Teacher-forced, on the teacher's own answer tokens:

- ``kl``: mean per-token KL(teacher || student), over the teacher's top-k + tail buckets
  (exact for the cached information, a lower bound of the full-vocabulary KL; see
  ``edgekd.distill.token_kd``). With a large k the bound is tight;
- ``top1``: share of positions where the student's most likely token is the teacher's;
- ``nll``: mean negative log-likelihood of the teacher's tokens (``ppl = exp(nll)``).

Free-running: :func:`greedy_answers` decodes each prompt greedily, and ``rouge_l`` is the
mean ROUGE-L F1 (``edgekd.completions.graders.rouge_l``) of those answers against the
teacher's answer texts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from edgekd.data.lm import LMExample
from edgekd.distill.lm_batches import collate, forward_logits, shifted
from edgekd.distill.token_kd import topk_divergence
from edgekd.models.vocab_trim import VocabMap
from edgekd.teacher.lm_targets import TopKRows


def teacher_forced(
    model: Any,
    examples: Sequence[LMExample],
    rows: TopKRows | None,
    pad_id: int,
    vmap: VocabMap | None = None,
    source: str = "teacher",
    batch_size: int = 16,
) -> dict[str, float]:
    """``nll``, ``ppl`` and, with teacher rows, ``kl`` and ``top1`` (module docstring)."""
    was_training = model.training
    model.eval()
    nll = kl = agree = 0.0
    n_tok = n_kd = 0
    with torch.inference_mode():
        for start in range(0, len(examples), batch_size):
            idx = list(range(start, min(start + batch_size, len(examples))))
            batch = collate(examples, idx, pad_id, vmap, rows, source)
            parts = shifted(forward_logits(model, batch.input_ids, batch.attention_mask), batch)
            lg, tgt = parts["logits"].float(), parts["targets"]
            nll += float(F.cross_entropy(lg, tgt, reduction="sum")) if len(tgt) else 0.0
            n_tok += int(len(tgt))
            t = batch.teacher
            if t is not None and len(t):
                assert not isinstance(t, torch.Tensor)
                kd_lg = parts["kd_logits"].float()
                kl += float(topk_divergence("kl", kd_lg, t).sum())
                top1_valid = torch.isfinite(t.logprobs[:, 0])
                agree += float(((kd_lg.argmax(-1) == t.ids[:, 0]) & top1_valid).sum())
                n_kd += len(t)
    model.train(was_training)
    out = {"nll": nll / max(n_tok, 1), "tokens": float(n_tok)}
    out["ppl"] = math.exp(min(out["nll"], 50.0))
    if n_kd:
        out.update(kl=kl / n_kd, top1=agree / n_kd, kd_tokens=float(n_kd))
    return out


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
