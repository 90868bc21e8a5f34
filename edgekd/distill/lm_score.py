"""Teacher-forced scores of a causal-LM student on the teacher's own answer tokens: what
``edgekd.distill_lm`` validates with during training and ``edgekd.evaluate.lm_metrics``
reports on held-out answers.

- ``kl``: mean per-token KL(teacher || student), over the teacher's top-k + tail buckets
  (exact for the cached information, a lower bound of the full-vocabulary KL; see
  ``edgekd.distill.token_kd``). With a large k the bound is tight;
- ``top1``: share of positions where the student's most likely token is the teacher's;
- ``nll``: mean negative log-likelihood of the teacher's tokens (``ppl = exp(nll)``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from edgekd.completions.lm_examples import LMExample
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
    logits_of: Callable[[Any], torch.Tensor] | None = None,
) -> dict[str, float]:
    """``nll``, ``ppl`` and, with teacher rows, ``kl`` and ``top1`` (module docstring).
    ``logits_of(batch)`` gives the logits [B, L, V] instead of ``model`` (an exported file
    run by its runtime, ``edgekd.evaluate.lm_files``)."""
    was_training = model.training
    model.eval()
    nll = kl = agree = 0.0
    n_tok = n_kd = 0
    with torch.inference_mode():
        for start in range(0, len(examples), batch_size):
            idx = list(range(start, min(start + batch_size, len(examples))))
            batch = collate(examples, idx, pad_id, vmap, rows, source)
            logits = (
                logits_of(batch)
                if logits_of is not None
                else forward_logits(model, batch.input_ids, batch.attention_mask)
            )
            parts = shifted(logits, batch)
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
