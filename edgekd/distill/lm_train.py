"""The training loop of a causal-LM student (``task: causal_lm``).

AdamW (betas 0.9/0.95, as for GPT-style LMs), linear warm-up then cosine decay to zero,
gradient clipping, a fixed number of optimizer steps. Examples are drawn in *groups* (one
record: its answer example, plus its rationale example under distilling step-by-step) in
a shuffled order that restarts each epoch. A batch is on-policy with probability ``lmbda``
(``edgekd.distill.on_policy``); otherwise it is the teacher's text, under the recipe's
loss (``edgekd.distill.lm_losses``). With ``top_k: null`` the local teacher's full logits
are computed for each batch. The validation split is scored before training, every
``eval_every`` steps and at the end (``edgekd.distill.lm_score.teacher_forced``); the
final weights are kept.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from edgekd.completions.lm_examples import LMExample
from edgekd.distill.lm_batches import Batch, collate, forward_logits, shifted
from edgekd.distill.lm_config import LMDistillConfig
from edgekd.distill.lm_losses import LMKDLoss, RationaleLoss, SequenceKDLoss
from edgekd.models.vocab_trim import VocabMap
from edgekd.teacher.lm_targets import TopKRows

Progress = Callable[[int, int, dict[str, float]], None]


@dataclass
class LMTrainSet:
    """What the loop trains on: examples (teacher-vocabulary ids), the groups drawn together,
    the teacher rows for their kd tokens (None for ``sft`` or full-logit KD) and where those
    rows come from (``dataset`` or ``teacher``, which decides the kd tokens)."""

    examples: Sequence[LMExample]
    groups: list[list[int]]
    rows: TopKRows | None = None
    source: str = "teacher"


@dataclass
class LMHistory:
    steps: int = 0
    loss: list[float] = field(default_factory=list)  # mean per eval interval
    val: list[dict[str, float]] = field(default_factory=list)
    on_policy_batches: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def schedule(step: int, total: int, warmup: int) -> float:
    """Learning-rate factor: linear warm-up over ``warmup`` steps, then cosine to zero."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    span = max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / span)))


def _batches(groups: list[list[int]], batch_size: int, rng: np.random.Generator):
    """Endless batches of examples: ``batch_size`` groups at a time, reshuffled each epoch."""
    while True:
        order = rng.permutation(len(groups))
        for i in range(0, len(order), batch_size):
            yield [j for g in order[i : i + batch_size] for j in groups[int(g)]]


def batch_loss(
    model: Any,
    batch: Batch,
    cfg: LMDistillConfig,
    losses: dict[str, Any],
    teacher: Any = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The recipe's loss on one batch (teacher's text, or on-policy when ``batch.teacher``
    already holds the teacher's scores of the student's tokens)."""
    parts = shifted(forward_logits(model, batch.input_ids, batch.attention_mask), batch)
    if cfg.method == "sft":
        if cfg.rationale is not None:
            loss = losses["rationale"](parts["logits"], parts["targets"], parts["rationale"])
        else:
            loss = losses["sft"](parts["logits"], parts["targets"])
        return loss, {"ce": float(loss.detach())}
    target = batch.teacher
    if target is None:  # full logits of the local teacher, computed for this batch
        with torch.inference_mode():
            t_logits = forward_logits(teacher, batch.input_ids, batch.attention_mask)
        target = t_logits[:, :-1][batch.learn[:, 1:]].float()
        parts["kd_logits"] = parts["logits"]
    return losses["kd"](parts["logits"], parts["targets"], parts["kd_logits"], target)


def train_lm(
    model: Any,
    train: LMTrainSet,
    cfg: LMDistillConfig,
    *,
    pad_id: int,
    stop_ids: set[int],
    vmap: VocabMap | None = None,
    teacher: Any = None,
    validate: Callable[[Any], dict[str, float]] | None = None,
    progress: Progress | None = None,
) -> LMHistory:
    """Train ``model`` in place for ``cfg.steps`` optimizer steps (module docstring)."""
    from edgekd.distill.on_policy import on_policy_batch

    torch.manual_seed(cfg.seed)
    rng, coin = np.random.default_rng(cfg.seed), random.Random(cfg.seed)
    losses = {
        "sft": SequenceKDLoss(),
        "rationale": RationaleLoss(cfg.rationale.alpha if cfg.rationale else 0.5),
        "kd": LMKDLoss(cfg.divergence, cfg.beta, cfg.sft_weight, cfg.kd_weight),
    }
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.95), weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: schedule(s, cfg.steps, cfg.warmup_steps)
    )
    hist = LMHistory()
    started = time.perf_counter()
    window: list[float] = []
    batches = _batches(train.groups, cfg.batch_size, rng)
    if validate is not None:  # step 0: the student as it starts
        hist.val.append({"step": 0.0, **validate(model)})
    model.train()
    for step in range(cfg.steps):
        idx = next(batches)
        if cfg.lmbda > 0 and coin.random() <= cfg.lmbda:
            batch = on_policy_batch(
                model,
                teacher,
                [train.examples[i] for i in idx],
                max_new_tokens=cfg.max_new_tokens,
                max_length=cfg.max_length,
                stop_ids=stop_ids,
                vmap=vmap,
                pad_id=pad_id,
                temperature=cfg.on_policy_temperature,
                top_k=cfg.top_k,
            )
            hist.on_policy_batches += 1
        else:
            batch = collate(train.examples, idx, pad_id, vmap, train.rows, train.source)
        loss, info = batch_loss(model, batch, cfg, losses, teacher)
        if not torch.isfinite(loss):
            from edgekd.errors import StageError

            raise StageError(f"distill: the loss is {float(loss)} at step {step + 1}; {info}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        sched.step()
        window.append(float(loss.detach()))
        done = step + 1
        if done % cfg.eval_every == 0 or done == cfg.steps:
            hist.loss.append(float(np.mean(window)))
            window = []
            val = validate(model) if validate is not None else {}
            hist.val.append({"step": float(done), **val})
            if progress is not None:
                progress(done, cfg.steps, {"loss": hist.loss[-1], **val})
    model.eval()
    hist.steps = cfg.steps
    hist.seconds = time.perf_counter() - started
    return hist
