"""Batches of :class:`~edgekd.completions.lm_examples.LMExample` for a causal-LM student, and
its forward pass.

Examples hold the teacher's token ids; a trimmed student (``edgekd.models.vocab_trim``)
gets them through its map here, and its teacher rows move into its vocabulary the same
way. Sequences are right-padded; position ids come from the attention mask, so a
left-padded sequence (a generated one) is positioned like an unpadded one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from edgekd.completions.lm_examples import LMExample
from edgekd.distill.token_kd import TopKTargets
from edgekd.models.vocab_trim import VocabMap
from edgekd.teacher.lm_targets import TopKRows, kd_positions, to_student_vocab


@dataclass
class Batch:
    input_ids: torch.Tensor  # [B, L] student ids
    attention_mask: torch.Tensor  # [B, L]
    learn: torch.Tensor  # bool [B, L]: token t is a target
    kd: torch.Tensor  # bool [B, L]: token t has a teacher row
    rationale: torch.Tensor  # bool [B, L]: token t belongs to a rationale task
    teacher: TopKTargets | torch.Tensor | None = None  # rows for kd tokens, row-major order


def pad_batch(
    seqs: Sequence[np.ndarray], pad_id: int, masks: Sequence[Sequence[np.ndarray]] = ()
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """Right-pad ``seqs`` (and bool ``masks`` per sequence) to the longest."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    att = torch.zeros((len(seqs), width), dtype=torch.long)
    out = [torch.zeros((len(seqs), width), dtype=torch.bool) for _ in masks]
    for b, s in enumerate(seqs):
        ids[b, : len(s)] = torch.as_tensor(np.asarray(s, np.int64))
        att[b, : len(s)] = 1
        for m, per in zip(out, masks, strict=True):
            m[b, : len(s)] = torch.as_tensor(np.asarray(per[b], bool))
    return ids, att, out


def topk_targets(rows: TopKRows, indices: Sequence[int], vmap: VocabMap | None) -> TopKTargets:
    """The rows of examples ``indices`` (in order) as student-vocabulary targets."""
    parts = [rows.rows(i) for i in indices]
    ids = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, rows.k), np.int64)
    lps = np.concatenate([p[1] for p in parts]) if parts else np.zeros((0, rows.k), np.float32)
    tail = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.float32)
    ids, lps, tail = to_student_vocab(ids, lps, tail, None if vmap is None else vmap.old_to_new)
    return TopKTargets(
        torch.as_tensor(np.asarray(ids, np.int64)),
        torch.as_tensor(np.asarray(lps, np.float32)),
        torch.as_tensor(np.asarray(tail, np.float32)),
    )


def collate(
    examples: Sequence[LMExample],
    indices: Sequence[int],
    pad_id: int,
    vmap: VocabMap | None,
    rows: TopKRows | None = None,
    source: str = "teacher",
) -> Batch:
    """A batch of ``examples[indices]``; ``rows`` (the teacher's, for all ``examples``) give
    the targets of the ``kd`` tokens (``kd_positions(ex, source)``)."""
    picked = [examples[i] for i in indices]
    seqs = [ex.input_ids if vmap is None else vmap.to_new(ex.input_ids) for ex in picked]
    learn = [ex.learn for ex in picked]
    kd = [
        kd_positions(ex, source) if rows is not None else np.zeros_like(ex.learn) for ex in picked
    ]
    rat = [np.full(len(ex), ex.task == "rationale") for ex in picked]
    pad = pad_id if vmap is None else int(vmap.to_new([pad_id])[0])  # a trimmed student's id
    ids, att, (m_learn, m_kd, m_rat) = pad_batch(seqs, pad, (learn, kd, rat))
    teacher = None if rows is None else topk_targets(rows, indices, vmap)
    return Batch(ids, att, m_learn, m_kd, m_rat, teacher)


def forward_logits(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
    """The model's logits [B, L, V] with position ids from the attention mask."""
    pos = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    return model(input_ids=input_ids, attention_mask=attention_mask, position_ids=pos).logits


def shifted(logits: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
    """Logits that predict each learned / kd token, and the learned tokens, flattened in
    row-major order (the order of the teacher rows)."""
    lg = logits[:, :-1]
    learn, kd = batch.learn[:, 1:], batch.kd[:, 1:]
    return {
        "logits": lg[learn],
        "targets": batch.input_ids[:, 1:][learn],
        "rationale": batch.rationale[:, 1:][learn],
        "kd_logits": lg[kd],
    }


def to_device(batch: Batch, device: Any) -> Batch:
    """``batch`` on ``device`` (a rank's GPU under nccl); unchanged on the CPU."""
    if str(device) == "cpu":
        return batch
    import dataclasses

    t = batch.teacher
    if isinstance(t, TopKTargets):
        t = TopKTargets(t.ids.to(device), t.logprobs.to(device), t.tail.to(device))
    elif t is not None:
        t = t.to(device)
    tensors = ("input_ids", "attention_mask", "learn", "kd", "rationale")
    return dataclasses.replace(
        batch, teacher=t, **{n: getattr(batch, n).to(device) for n in tensors}
    )
