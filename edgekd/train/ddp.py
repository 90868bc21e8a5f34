"""Data-parallel training with torch's DistributedDataParallel, for :func:`edgekd.train.loop.fit`.

Every rank holds the whole model; DDP broadcasts rank 0's weights and buffers when it wraps
the model and averages the gradients over the ranks in backward (Li et al. 2020, "PyTorch
Distributed: Experiences on Accelerating Data Parallel Training"). Each rank sees
``batch_size / N`` samples of every global batch: the epoch's order comes from
``DistributedSampler`` (seeded with the run's seed, ``set_epoch`` each epoch) and batch
``b`` of rank ``r`` holds positions ``r, r + N, ...`` of global batch ``b``, so the N ranks
together step on exactly the samples a single process steps on with the same order, and
the averaged gradient is the global batch's (up to floating point and BatchNorm).

BatchNorm: on CUDA, BatchNorm layers become ``SyncBatchNorm`` while training (statistics of
the global batch), then go back. torch's SyncBatchNorm runs on GPUs only, so on CPU (gloo)
each rank normalizes with the statistics of its own ``batch_size / N`` samples; running
statistics are rank 0's (DDP broadcasts buffers every step). ``tests/train/test_ddp.py``
states the tolerance this costs against a single process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from edgekd.errors import UsageError

if TYPE_CHECKING:
    from edgekd.distributed.world import World


class TrainStep(nn.Module):
    """One batch's loss as a module, so DDP syncs the model's and an objective's parameters
    (FitNets adapters) together: ``objective(model, x, y, t, ix)`` or ``loss(model(x), y, t)``."""

    def __init__(self, model: nn.Module, loss: Any, objective: nn.Module | None) -> None:
        super().__init__()
        self.model = model
        self.objective = objective
        self.loss = loss

    def forward(self, x: Any, y: Any, t: Any, ix: torch.Tensor) -> torch.Tensor:
        if self.objective is not None:
            return self.objective(self.model, x, y, t, ix)
        logits = self.model(*x) if isinstance(x, (tuple, list)) else self.model(x)  # text
        return self.loss(logits, y, t)


def rank_batch(batch_size: int, w: World | None) -> int:
    """The samples one rank steps on per global batch."""
    if w is None:
        return batch_size
    if batch_size % w.size:
        raise UsageError(
            f"batch_size {batch_size} is not a multiple of the {w.size} processes; each "
            f"process trains on batch_size / {w.size} samples"
        )
    return batch_size // w.size


def epoch_order(n: int, seed: int, epoch: int, w: World) -> torch.Tensor:
    """This rank's sample positions for ``epoch``: ``DistributedSampler`` with ``set_epoch``
    (padded with the first positions so every rank steps the same number of times)."""
    from torch.utils.data import DistributedSampler

    sampler: DistributedSampler[int] = DistributedSampler(
        range(n),  # type: ignore[arg-type]
        num_replicas=w.size,
        rank=w.rank,
        shuffle=True,
        seed=seed,
        drop_last=False,
    )
    sampler.set_epoch(epoch)
    return torch.tensor(list(sampler), dtype=torch.long)


def wrap(step: TrainStep, w: World) -> nn.Module:
    """``step`` under DDP on this rank's device."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    if w.device == "cpu":
        return DDP(step, find_unused_parameters=step.objective is not None)
    return DDP(
        step.to(w.device),
        device_ids=[torch.device(w.device).index],
        find_unused_parameters=step.objective is not None,
    )


def average_buffers(model: nn.Module, w: World) -> None:
    """BatchNorm running statistics averaged over the ranks (each rank updated them with its
    own samples), so every rank holds the same model after an epoch."""
    import torch.distributed as dist

    for buf in model.buffers():
        if buf.is_floating_point():
            dist.all_reduce(buf)
            buf.div_(w.size)


def global_mean(value: float, w: World) -> float:
    """The mean of ``value`` over the ranks (the epoch's loss over the global data)."""
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64, device=w.device)
    dist.all_reduce(t)
    return float(t.item()) / w.size


@contextlib.contextmanager
def sync_batchnorm(model: nn.Module, w: World) -> Iterator[None]:
    """BatchNorm layers as ``SyncBatchNorm`` inside the block (CUDA only), then the original
    layers again with the trained statistics and affine weights."""
    if w.device == "cpu":
        yield
        return
    bn_types = nn.modules.batchnorm._BatchNorm
    originals = {n: m for n, m in model.named_modules() if n and isinstance(m, bn_types)}
    for name, bn in originals.items():
        _replace(model, name, nn.SyncBatchNorm.convert_sync_batchnorm(bn))
    try:
        yield
    finally:
        for name, bn in originals.items():
            synced = model.get_submodule(name)
            bn.load_state_dict(synced.state_dict())
            _replace(model, name, bn)


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, new)


def to_device(x: Any, device: str) -> Any:
    """A tensor, a tuple of tensors (a model's several inputs) or None, on ``device``."""
    if x is None or device == "cpu":
        return x
    if isinstance(x, (tuple, list)):
        return tuple(a.to(device, non_blocking=True) for a in x)
    return x.to(device, non_blocking=True)
