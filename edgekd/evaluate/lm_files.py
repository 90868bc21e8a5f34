"""An exported language model (ONNX, TFLite) scored on the held-out split by the runtime that
ships it (``edgekd.runtime.lm_runners``), with the same numbers as its torch parent
(``edgekd.evaluate.lm_stage``), so the report compares what ships with what was trained:

- teacher-forced on the teacher's answers: ``kl``, ``top1`` (agreement with the teacher's
  most likely token), ``nll``/``ppl``. The file reads each prompt through its prefill
  signature and every answer token through decode, one at a time through its own KV cache,
  as on the device;
- ``agreement``: at the same positions, the share where the file's next token is its torch
  parent's (what int8 weights cost, on held-out prompts rather than the export's fixed ones);
- free-running: ``rouge_l`` of the file's greedy answers against the teacher's, and
  ``greedy_match``, the share of those answers identical to the parent's greedy answers.

A sequence longer than the file's context (a TFLite KV cache) is left out, and counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgekd.evaluate.lm_stage import HeldOut


def _teacher_forced_logits(runner: Any, parent: Any, batch: Any, tally: list[int]) -> Any:
    """Logits [1, L, V] of ``runner`` for a one-row batch: prefill up to the first position
    that predicts a scored token, then decode token by token (earlier rows are zeros: no
    score reads them). ``tally`` counts agreement with the parent at the scored positions."""
    import torch

    from edgekd.distill.lm_batches import forward_logits

    ids = [int(i) for i in batch.input_ids[0].tolist()]
    scored = (batch.learn[0, 1:] | batch.kd[0, 1:]).nonzero().flatten()
    if len(scored) == 0:
        return torch.zeros((1, len(ids), 1))
    first = int(scored[0])
    runner.reset()
    rows = [runner.prefill(ids[: first + 1])]
    rows += [runner.decode(t) for t in ids[first + 1 : len(ids) - 1]]
    runner.reset()
    got = torch.from_numpy(np.stack(rows))
    out = torch.zeros((1, len(ids), got.shape[-1]))
    out[0, first : len(ids) - 1] = got
    with torch.inference_mode():
        ref = forward_logits(parent, batch.input_ids, batch.attention_mask)[0, :-1].float()
    mask = torch.zeros(len(ids) - 1, dtype=torch.bool)
    mask[scored] = True
    tally[0] += int((out[0, :-1][mask].argmax(-1) == ref[mask].argmax(-1)).sum())
    tally[1] += int(mask.sum())
    return out


def greedy_ids(
    runner: Any, prompt: Sequence[int], new: int, stops: set[int], vmap: Any
) -> list[int]:
    """The runner's greedy continuation of ``prompt`` (model ids) in tokenizer ids, up to
    ``new`` tokens or a stop token (not included), within the runner's context."""
    room = new if runner.max_context is None else min(new, runner.max_context - len(prompt))
    out: list[int] = []
    if room < 1:
        return out
    runner.reset()
    logits = runner.prefill(list(prompt))
    while True:
        t = int(np.argmax(logits))
        old = int(vmap.to_old([t])[0]) if vmap is not None else t
        if old in stops:
            break
        out.append(old)
        if len(out) >= room:
            break
        logits = runner.decode(t)
    runner.reset()
    return out


def evaluate_lm_file(
    path: Path,
    held: HeldOut,
    parent_answers: Sequence[str],
    max_new_tokens: int,
    threads: int | None = 1,
) -> dict[str, Any]:
    """The file's scores on ``held`` (module docstring); ``parent_answers`` are the torch
    parent's greedy answers to the first prompts (``greedy_match``)."""
    from edgekd.distill.lm_score import teacher_forced
    from edgekd.evaluate.lm_metrics import rouge_l_mean
    from edgekd.runtime.lm_runners import open_runner

    runner = open_runner(path, threads)
    h = held
    ctx = runner.max_context
    keep = [i for i, ex in enumerate(h.examples) if ctx is None or len(ex) <= ctx]
    examples = [h.examples[i] for i in keep]
    rows = _subset(h.rows, keep) if h.rows is not None and len(keep) < len(h.examples) else h.rows
    tally = [0, 0]
    pad = int(h.tokenizer.pad_token_id)
    scores: dict[str, Any] = teacher_forced(
        h.model,
        examples,
        rows,
        pad,
        h.vmap,
        "dataset" if h.source == "dataset" else "teacher",
        batch_size=1,
        logits_of=lambda b: _teacher_forced_logits(runner, h.model, b, tally),
    )
    scores["agreement"] = tally[0] / tally[1] if tally[1] else None
    n = len(parent_answers)
    answers = []
    for ex in h.examples[:n]:
        prompt = ex.input_ids[: ex.prompt_len]
        prompt = h.vmap.to_new(prompt) if h.vmap is not None else prompt
        ids = greedy_ids(runner, [int(i) for i in prompt], max_new_tokens, h.stops, h.vmap)
        answers.append(h.tokenizer.decode(ids, skip_special_tokens=True).strip())
    scores["rouge_l"] = rouge_l_mean(answers, [h.records[i] for i in h.index[:n]])
    scores["greedy_match"] = (
        sum(a == b for a, b in zip(answers, parent_answers, strict=True)) / n if n else None
    )
    scores.update(records=len(examples), rouge_prompts=n, context=ctx)
    scores["skipped_longer_than_context"] = len(h.examples) - len(keep)
    return scores


def _subset(rows: Any, keep: list[int]) -> Any:
    """The teacher rows of examples ``keep`` (in order), re-indexed from 0."""
    from edgekd.teacher.lm_targets import TopKRows

    parts = [rows.rows(i) for i in keep]
    sizes = [len(p[0]) for p in parts]
    return TopKRows(
        np.concatenate([p[0] for p in parts]) if parts else rows.ids[:0],
        np.concatenate([p[1] for p in parts]) if parts else rows.logprobs[:0],
        np.concatenate([p[2] for p in parts]) if parts else rows.tail[:0],
        np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
    )
