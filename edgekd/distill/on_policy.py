"""On-policy distillation (GKD, Agarwal et al. 2024, "On-Policy Distillation of Language
Models: Learning from Self-Generated Mistakes"): the student continues the batch's prompts
itself and a local teacher scores every token it wrote, so the student learns to recover
from its own mistakes instead of only imitating the teacher's text. As in TRL's
``GKDTrainer``, a batch is on-policy with probability ``lmbda`` (``random() <= lmbda``), the
continuation is sampled at ``on_policy_temperature`` with no top-k/top-p truncation and is
cut after its first end-of-sequence token, and only the generated tokens carry the loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from edgekd.completions.lm_examples import LMExample
from edgekd.distill.lm_batches import Batch, collate, forward_logits
from edgekd.distill.token_kd import TopKTargets
from edgekd.models.vocab_trim import VocabMap
from edgekd.teacher.lm_targets import to_student_vocab, topk_of_logits


def generate(
    model: Any,
    prompts: Sequence[np.ndarray],
    max_new_tokens: int,
    stop_ids: set[int],
    vmap: VocabMap | None,
    pad_id: int,
    temperature: float | None,
) -> list[np.ndarray]:
    """Continuations of ``prompts`` (teacher-vocabulary ids in and out), each cut after its
    first stop token; greedy when ``temperature`` is None, else sampled."""
    to_new = (lambda a: np.asarray(a, np.int64)) if vmap is None else vmap.to_new
    pad = int(to_new([pad_id])[0])
    eos = sorted({int(i) for i in to_new(sorted(stop_ids))})
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    att = torch.zeros((len(prompts), width), dtype=torch.long)
    for b, p in enumerate(prompts):
        ids[b, width - len(p) :] = torch.as_tensor(to_new(p))
        att[b, width - len(p) :] = 1
    kw: dict[str, Any] = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    if temperature is not None:
        kw = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=att,
            max_new_tokens=max_new_tokens,
            eos_token_id=eos,
            pad_token_id=pad,
            **kw,
        )
    model.train(was_training)
    results = []
    eos_set = set(eos)
    for row in out[:, width:].tolist():
        stop = next((i for i, t in enumerate(row) if t in eos_set), None)
        row = row if stop is None else row[: stop + 1]
        results.append(row if vmap is None else vmap.to_old(row))
    return [np.asarray(r, np.int64) for r in results]


def on_policy_examples(
    student: Any,
    examples: Sequence[LMExample],
    max_new_tokens: int,
    max_length: int,
    stop_ids: set[int],
    vmap: VocabMap | None,
    pad_id: int,
    temperature: float,
) -> list[LMExample]:
    """The examples' prompts with the student's sampled continuations as the learned part."""
    prompts = [ex.input_ids[: ex.prompt_len] for ex in examples]
    room = max(1, min(max_new_tokens, max_length - max(len(p) for p in prompts)))
    outs = generate(student, prompts, room, stop_ids, vmap, pad_id, temperature)
    made = []
    for ex, prompt, completion in zip(examples, prompts, outs, strict=True):
        completion = completion[: max(1, max_length - len(prompt))]
        ids = np.concatenate([prompt, completion]).astype(np.int64)
        learn = np.zeros(len(ids), bool)
        learn[len(prompt) :] = True
        learn[0] = False
        made.append(LMExample(ex.record_id, ids, learn, (len(prompt), len(ids))))
    return made


def teacher_targets(
    teacher: Any,
    examples: Sequence[LMExample],
    top_k: int | None,
    vmap: VocabMap | None,
    pad_id: int,
) -> TopKTargets | torch.Tensor:
    """The local teacher's distributions at the learned tokens of ``examples``: full logits
    (same vocabulary, ``top_k`` None) or top-k + tail in the student's vocabulary."""
    batch = collate(examples, range(len(examples)), pad_id, None)
    with torch.inference_mode():
        logits = forward_logits(teacher, batch.input_ids, batch.attention_mask)
    at = logits[:, :-1][batch.learn[:, 1:]].float()
    if top_k is None:
        return at
    ids, lps, tail = topk_of_logits(at, top_k)
    ids, lps, tail = to_student_vocab(
        ids.numpy(), lps.numpy(), tail.numpy(), None if vmap is None else vmap.old_to_new
    )
    return TopKTargets(torch.as_tensor(ids), torch.as_tensor(lps), torch.as_tensor(tail))


def on_policy_batch(
    student: Any,
    teacher: Any,
    examples: Sequence[LMExample],
    *,
    max_new_tokens: int,
    max_length: int,
    stop_ids: set[int],
    vmap: VocabMap | None,
    pad_id: int,
    temperature: float,
    top_k: int | None,
) -> Batch:
    """A batch whose learned tokens the student wrote and the teacher scored."""
    made = on_policy_examples(
        student, examples, max_new_tokens, max_length, stop_ids, vmap, pad_id, temperature
    )
    batch = collate(made, range(len(made)), pad_id, vmap)
    batch.kd = batch.learn.clone()
    batch.teacher = teacher_targets(teacher, made, top_k, vmap, pad_id)
    return batch
