"""The training loop shared by teacher training, distillation, the baseline and fine-tuning.

The teacher never runs here: distillation reads the teacher's cached logits (one row per
training sample), so epochs, later stages and reruns cost no teacher forward passes.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgekd.data.dataset import Split
from edgekd.data.inputs import Inputs, rows, select, to_torch
from edgekd.distributed import world
from edgekd.fileio import atomic_save
from edgekd.train import ddp
from edgekd.train.config import TrainConfig

# loss(student_logits, labels or None, teacher_logits or None) -> scalar
LossFn = Callable[[torch.Tensor, "torch.Tensor | None", "torch.Tensor | None"], torch.Tensor]
# objective(model, x, labels or None, teacher_logits or None, sample_indices) -> scalar.
# An nn.Module: its own parameters (e.g. FitNets adapters) are trained with the model's.
ObjectiveFn = Callable[..., torch.Tensor]
# progress(epoch, epochs, info) is called after each epoch
ProgressFn = Callable[[int, int, dict[str, float]], None]


@dataclass
class History:
    """Per-epoch curves and where the best weights came from."""

    train_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    best_epoch: int = 0
    best_val_accuracy: float = 0.0
    stopped_early: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "train_loss": self.train_loss,
            "val_accuracy": self.val_accuracy,
            "best_epoch": self.best_epoch,
            "best_val_accuracy": self.best_val_accuracy,
            "stopped_early": self.stopped_early,
        }


def hard_label_loss(
    student_logits: torch.Tensor, labels: torch.Tensor | None, _teacher: torch.Tensor | None
) -> torch.Tensor:
    """Plain cross-entropy on labels: the from-scratch baseline and teacher training."""
    if labels is None:
        raise ValueError("the hard-label loss needs labels")
    return torch.nn.functional.cross_entropy(student_logits, labels)


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def make_optimizer(
    model: nn.Module, cfg: TrainConfig, extra: nn.Module | None = None
) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if extra is not None:
        params += [p for p in extra.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def make_schedule(opt: torch.optim.Optimizer, cfg: TrainConfig) -> Any:
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    if cfg.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, cfg.epochs // 3), gamma=0.1)
    return None


@torch.no_grad()
def predict(model: nn.Module, x: Inputs | Split, batch_size: int = 512) -> np.ndarray:
    """Logits of ``model`` (eval mode) for ``x`` (arrays, or a split read batch by batch),
    as float32 numpy."""
    was_training = model.training
    model.eval()
    device = next(iter(model.parameters()), torch.empty(0)).device  # CUDA under nccl
    batches = (
        x.batches(batch_size)
        if isinstance(x, Split)
        else (select(x, slice(i, i + batch_size)) for i in range(0, rows(x), batch_size))
    )
    out = [model(*(a.to(device) for a in to_torch(b))).float().cpu().numpy() for b in batches]
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(logits.argmax(1) == y)) if len(y) else 0.0


def fit(
    model: nn.Module,
    train: Split,
    val: Split,
    cfg: TrainConfig,
    *,
    loss: LossFn | None = None,
    teacher_logits: Any = None,
    checkpoint: Path | None = None,
    progress: ProgressFn | None = None,
    objective: nn.Module | None = None,
) -> History:
    """Train ``model`` in place and restore the weights of the best val-accuracy epoch.

    ``loss`` defaults to cross-entropy on labels. ``teacher_logits`` (rows aligned with the
    train split: an array, or the memory-mapped teacher-output cache) are passed to ``loss``
    batch by batch. Batches come from the split's ``DataLoader`` (augmented for images), in
    the epoch's order. With ``checkpoint``, the model, optimizer, schedule, sampler position
    and history are saved after every epoch, and a checkpoint found there is resumed from
    (with any number of processes).

    ``objective`` replaces the per-batch step for methods that need more than logits (feature
    and relation distillation): it is called as ``objective(model, x, y, t, ix)`` with the
    batch's sample indices ``ix`` (to look up cached teacher features) and returns the loss; its
    parameters (adapters) are optimized and checkpointed with the model. ``loss`` is then unused.

    Inside :func:`edgekd.distributed.world.collective` every rank trains the same model under DDP
    on ``batch_size / N`` samples of each global batch (``edgekd.train.ddp``); only rank 0
    writes the checkpoint.
    """
    loss_fn: LossFn = loss if loss is not None else hard_label_loss
    w = world.active()  # every rank trains this model together (DDP), or None
    per_rank = ddp.rank_batch(cfg.batch_size, w)
    seed_everything(cfg.seed)
    opt = make_optimizer(model, cfg, objective)
    sched = make_schedule(opt, cfg)
    hist = History()
    best_state = copy.deepcopy(model.state_dict())
    start = 0
    if checkpoint is not None and checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=True)
        model.load_state_dict(state["model"])
        if objective is not None and state.get("objective") is not None:
            objective.load_state_dict(state["objective"])
        opt.load_state_dict(state["optimizer"])
        if sched is not None and state.get("schedule"):
            sched.load_state_dict(state["schedule"])
        hist = History(**state["history"])
        best_state = state["best"]
        start = len(hist.train_loss)
        torch.set_rng_state(state["rng"])
    n = len(train)
    device = "cpu" if w is None else w.device
    with contextlib.ExitStack() as stack:
        step = ddp.TrainStep(model, loss_fn, objective)
        runner: nn.Module = step
        if w is not None:
            stack.enter_context(world.guard("a training step (DDP all-reduce)"))
            stack.enter_context(ddp.sync_batchnorm(model, w))
            runner = ddp.wrap(step, w)  # broadcasts rank 0's weights and buffers
        for epoch in range(start, cfg.epochs):
            if hist.stopped_early:
                break
            model.train()
            order = torch.randperm(n) if w is None else ddp.epoch_order(n, cfg.seed, epoch, w)
            total, batches = 0.0, 0
            # batches of this rank's order; one of a single sample is skipped (BatchNorm)
            for xs, yb, ix in train.loader(per_rank, order=order, train=True):
                tb = None
                if teacher_logits is not None:
                    rows_t = np.asarray(teacher_logits[ix.numpy()], dtype=np.float32)
                    tb = torch.from_numpy(rows_t)
                xb = ddp.to_device(xs[0], device) if len(xs) == 1 else ddp.to_device(xs, device)
                value = runner(xb, *(ddp.to_device(v, device) for v in (yb, tb)), ix)
                opt.zero_grad()
                value.backward()
                opt.step()
                total += float(value.detach())
                batches += 1
            if sched is not None:
                sched.step()
            mean = total / max(batches, 1)
            if w is not None:
                ddp.average_buffers(model, w)
            val_acc = _end_epoch(
                model, val, cfg, hist, epoch, mean if w is None else ddp.global_mean(mean, w)
            )
            if hist.best_epoch == epoch:
                best_state = copy.deepcopy(model.state_dict())
            if checkpoint is not None and world.is_main():
                sampler = {"seed": cfg.seed, "epoch": epoch + 1, "world_size": w.size if w else 1}
                _save_checkpoint(
                    checkpoint, model, opt, sched, hist, best_state, objective, sampler
                )
            if progress is not None:
                progress(epoch + 1, cfg.epochs, {"loss": hist.train_loss[-1], "val_acc": val_acc})
    model.to("cpu")
    model.load_state_dict(best_state)
    model.eval()
    return hist


def _end_epoch(
    model: nn.Module, val: Split, cfg: TrainConfig, hist: History, epoch: int, loss: float
) -> float:
    """Record the epoch's loss and val accuracy in ``hist``: best epoch, early stopping."""
    val_acc = accuracy(predict(model, val), val.y) if val.y is not None else 0.0
    hist.train_loss.append(loss)
    hist.val_accuracy.append(val_acc)
    if val_acc > hist.best_val_accuracy or epoch == 0:
        hist.best_val_accuracy, hist.best_epoch = val_acc, epoch
    elif cfg.patience is not None and epoch - hist.best_epoch >= cfg.patience:
        hist.stopped_early = True
    if not math.isfinite(loss):
        raise FloatingPointError(f"training diverged at epoch {epoch + 1} (loss is not finite)")
    return val_acc


def _save_checkpoint(
    path: Path, model, opt, sched, hist: History, best: dict, objective, sampler: dict
) -> None:
    """Everything a resumed run needs, with any number of processes: the weights and
    optimizer state are the same on every rank, and the sampler's order depends only on
    (seed, epoch)."""
    state = {
        "model": model.state_dict(),
        "objective": objective.state_dict() if objective is not None else None,
        "optimizer": opt.state_dict(),
        "schedule": sched.state_dict() if sched is not None else None,
        "history": hist.to_dict(),
        "best": best,
        "rng": torch.get_rng_state(),
        "sampler": sampler,
    }
    atomic_save(path, lambda tmp: torch.save(state, tmp))
