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
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgekd.completions.lm_examples import LMExample
from edgekd.distill.lm_batches import Batch, collate, forward_logits, shifted, to_device
from edgekd.distill.lm_config import LMDistillConfig
from edgekd.distill.lm_losses import LMKDLoss, RationaleLoss, SequenceKDLoss
from edgekd.errors import StageError, UsageError
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
    tokens: int = 0  # learned tokens stepped on, over all ranks
    state: dict[str, Any] | None = None  # FSDP: the whole trained weights (rank 0)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "state"}


def schedule(step: int, total: int, warmup: int) -> float:
    """Learning-rate factor: linear warm-up over ``warmup`` steps, then cosine to zero."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    span = max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / span)))


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
    checkpoint: Path | None = None,
) -> LMHistory:
    """Train ``model`` in place for ``cfg.steps`` optimizer steps (module docstring).

    Inside :func:`edgekd.distributed.world.collective` every rank trains the same student on
    ``batch_size / N`` groups of each global batch (``edgekd.distill.lm_parallel``: DDP, or
    FSDP with ``cfg.strategy: fsdp``, which shards ``model`` in place: take the trained
    weights from ``hist.state`` on rank 0). With ``checkpoint``, rank 0 saves the weights,
    optimizer, schedule, sampler position, random state and history at every validation;
    a checkpoint of the same settings found there is resumed from, with any N."""
    from edgekd.distill import lm_parallel as par
    from edgekd.distill.on_policy import on_policy_batch
    from edgekd.distributed import world

    w = world.active()
    sharded = w is not None and cfg.strategy == "fsdp"
    if sharded and cfg.lmbda > 0:
        raise UsageError(
            "distill.lm.lmbda: on-policy batches are generated by the student, which "
            "strategy: fsdp shards over the ranks; use strategy: ddp (or lmbda: 0)"
        )
    torch.manual_seed(cfg.seed)
    coin = random.Random(cfg.seed)
    losses = {
        "sft": SequenceKDLoss(),
        "rationale": RationaleLoss(cfg.rationale.alpha if cfg.rationale else 0.5),
        "kd": LMKDLoss(cfg.divergence, cfg.beta, cfg.sft_weight, cfg.kd_weight),
    }
    settings = _settings(cfg, model, train)
    runner = model if w is None else par.wrap(model, w, cfg.strategy)
    device = "cpu" if w is None else w.device
    if teacher is not None and device != "cpu":
        teacher.to(device)  # full-logit KD and on-policy scoring run it on the batch's device
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.95), weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: schedule(s, cfg.steps, cfg.warmup_steps)
    )
    hist = LMHistory()
    order = par.GroupBatches(train.groups, cfg.batch_size, cfg.seed, w)
    trainer = _Trainer(model, opt, sched, hist, order, coin, sharded, settings)
    start = trainer.resume(checkpoint)
    started = time.perf_counter() - hist.seconds
    base, fresh = hist.tokens, 0  # tokens (all ranks) before this attempt, this rank's since
    window: list[float] = []
    batches = iter(order)
    if validate is not None and start == 0:  # step 0: the student as it starts
        hist.val.append({"step": 0.0, **validate(model)})
    model.train()
    for step in range(start, cfg.steps):
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
        batch = to_device(batch, device)
        loss, info = batch_loss(runner, batch, cfg, losses, teacher)
        tokens = int(batch.learn[:, 1:].sum())
        scale, share, finite = par.token_weight(tokens, bool(torch.isfinite(loss)), w)
        if not finite:
            raise StageError(f"distill: the loss is {float(loss)} at step {step + 1}; {info}")
        opt.zero_grad(set_to_none=True)
        (loss * scale).backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        sched.step()
        window.append(float(loss.detach()) * share)
        fresh += tokens
        done = step + 1
        if done % cfg.eval_every == 0 or done == cfg.steps:
            hist.loss.append(par.global_sum(float(np.sum(window)), w) / len(window))
            window = []
            val = validate(model) if validate is not None else {}
            hist.val.append({"step": float(done), **val})
            hist.steps, hist.seconds = done, time.perf_counter() - started
            hist.tokens = base + int(par.global_sum(float(fresh), w))
            if checkpoint is not None:
                trainer.save(checkpoint)
            if progress is not None:
                progress(done, cfg.steps, {"loss": hist.loss[-1], **val})
    model.eval()
    hist.steps = cfg.steps
    hist.seconds = time.perf_counter() - started
    if sharded:  # every rank gathers; rank 0 keeps the whole weights to save
        hist.state = par.full_state(model, opt, True)[0]
    return hist


def _settings(cfg: LMDistillConfig, model: Any, train: LMTrainSet) -> dict[str, Any]:
    """What a checkpoint must share with the run that resumes it: the settings (not the
    strategy: a checkpoint holds whole tensors, so DDP and FSDP runs resume each other's),
    the student's parameter shapes and the training examples."""
    import hashlib

    h = hashlib.sha256()
    for ex in train.examples:
        h.update(np.asarray(ex.input_ids, "<i8").tobytes() + b"|")
    shapes = [f"{n}:{tuple(p.shape)}" for n, p in model.named_parameters()]
    return {
        **cfg.model_dump(mode="json", exclude={"strategy"}),
        "params": hashlib.sha256("\n".join(shapes).encode()).hexdigest(),
        "examples": h.hexdigest(),
    }


@dataclass
class _Trainer:
    """What a checkpoint saves and a resumed run loads."""

    model: Any
    opt: torch.optim.Optimizer
    sched: Any
    hist: LMHistory
    order: Any  # lm_parallel.GroupBatches
    coin: random.Random
    sharded: bool
    settings: dict[str, Any]

    def save(self, path: Path) -> None:
        """Rank 0 saves everything a resumed run needs (module docstring); gathering FSDP's
        shards is collective, so every rank calls this."""
        from edgekd.distill import lm_parallel as par
        from edgekd.distributed import world

        model_sd, opt_sd = par.full_state(self.model, self.opt, self.sharded)
        if not world.is_main():
            return
        w = self.order.w
        state = {
            "settings": self.settings,
            "model": model_sd,
            "optimizer": opt_sd,
            "schedule": self.sched.state_dict(),
            "history": self.hist.to_dict(),
            "sampler": {**self.order.state(), "world_size": 1 if w is None else w.size},
            "rng": torch.get_rng_state(),
            "coin": self.coin.getstate(),
        }
        par.save_checkpoint(path, state)

    def resume(self, path: Path | None) -> int:
        """Load a checkpoint of the same settings (every rank reads it); returns the step to
        continue from (0: none, or one of other settings, which is ignored)."""
        from edgekd.distill import lm_parallel as par

        if path is None or not path.is_file():
            return 0
        state = torch.load(path, weights_only=True)
        if state.get("settings") != self.settings:
            return 0
        par.load_state(self.model, self.opt, state["model"], state["optimizer"], self.sharded)
        self.sched.load_state_dict(state["schedule"])
        for key, value in state["history"].items():
            setattr(self.hist, key, value)
        self.order.epoch, self.order.batch = state["sampler"]["epoch"], state["sampler"]["batch"]
        torch.set_rng_state(state["rng"])
        self.coin.setstate(state["coin"])
        return int(self.hist.steps)
