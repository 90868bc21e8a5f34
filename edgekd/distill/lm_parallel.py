"""Several processes training one causal-LM student (``edgekd.distill.lm_train``).

Two strategies, chosen by ``distill.lm.strategy`` when a launcher (``edgekd compress
--nproc N``, ``torchrun``, ``accelerate launch``) started N ranks:

- ``ddp``: every rank holds the whole student; torch's DistributedDataParallel averages the
  gradients in backward (Li et al. 2020, "PyTorch Distributed: Experiences on Accelerating
  Data Parallel Training").
- ``fsdp``: torch's FSDP2 (``torch.distributed.fsdp.fully_shard``, Zhao et al. 2023,
  "PyTorch FSDP: Experiences on Scaling Fully Sharded Data Parallel"): each decoder layer
  and the model are sharded over the ranks, so a rank holds 1/N of the weights, gradients
  and AdamW moments and gathers a layer's weights only while it runs. For students that do
  not fit one device.

Either way each rank trains on ``batch_size / N`` groups of every global batch. The epoch's
order is ``DistributedSampler``'s (seeded with ``distill.lm.seed``, ``set_epoch`` each epoch)
with ``num_replicas = N``; batch ``b`` of rank ``r`` holds positions ``r, r + N, ...`` of
global batch ``b``, so the ranks together step on exactly the groups one process steps on.
The LM losses are means over tokens, and ranks hold different numbers of tokens, so each
rank's loss is weighted by ``N * tokens_r / tokens_all`` before the gradients are averaged:
the step is the global batch's token mean, the same as on one process up to floating point
(exact for the CE term and for a local teacher's KD term, which cover the same tokens).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from edgekd.errors import UsageError

if TYPE_CHECKING:
    from edgekd.distributed.world import World


def per_rank(batch_size: int, w: World | None) -> int:
    """Groups one rank steps on per global batch of ``batch_size`` groups."""
    if w is None:
        return batch_size
    if batch_size % w.size:
        raise UsageError(
            f"distill.lm.batch_size: {batch_size} is not a multiple of the {w.size} processes; "
            f"each process trains on batch_size / {w.size} groups"
        )
    return batch_size // w.size


def epoch_order(n: int, seed: int, epoch: int, size: int, rank: int) -> list[int]:
    """This rank's group positions for ``epoch`` (``DistributedSampler`` with ``set_epoch``;
    one process is ``size = 1``, so its order is the global order for any N)."""
    from torch.utils.data import DistributedSampler

    sampler: DistributedSampler[int] = DistributedSampler(
        range(n),  # type: ignore[arg-type]
        num_replicas=size,
        rank=rank,
        shuffle=True,
        seed=seed,
        drop_last=False,
    )
    sampler.set_epoch(epoch)
    return list(sampler)


@dataclass
class GroupBatches:
    """Endless batches of example indices for this rank; ``epoch`` and ``batch`` (the next
    global batch of that epoch) are the sampler state a checkpoint keeps: they do not
    depend on N, so a run resumes with any number of processes."""

    groups: list[list[int]]
    batch_size: int
    seed: int
    w: World | None
    epoch: int = 0
    batch: int = 0

    def __iter__(self) -> Iterator[list[int]]:
        size, rank = (1, 0) if self.w is None else (self.w.size, self.w.rank)
        step = per_rank(self.batch_size, self.w)
        while True:
            mine = epoch_order(len(self.groups), self.seed, self.epoch, size, rank)
            count = -(-len(mine) // step)  # batches this epoch, the same on every rank
            while self.batch < count:
                start = self.batch * step
                self.batch += 1
                if self.batch == count:  # the state a checkpoint keeps: the next epoch
                    self.epoch, self.batch = self.epoch + 1, 0
                yield [j for g in mine[start : start + step] for j in self.groups[g]]
                if self.batch == 0:
                    break
            else:
                self.epoch, self.batch = self.epoch + 1, 0

    def state(self) -> dict[str, int]:
        return {"seed": self.seed, "epoch": self.epoch, "batch": self.batch}


def wrap(model: Any, w: World, strategy: str) -> Any:
    """What the loss's forward runs through: ``model`` under DDP, or ``model`` itself after
    sharding it in place with FSDP2 (its decoder layers, then the whole)."""
    if strategy == "fsdp":
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        mesh = init_device_mesh(w.device.split(":")[0], (w.size,))
        for layer in decoder_layers(model):
            fully_shard(layer, mesh=mesh)
        fully_shard(model, mesh=mesh)
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    if w.device == "cpu":
        return DDP(model)
    return DDP(model.to(w.device), device_ids=[torch.device(w.device).index])


def decoder_layers(model: Any) -> list[Any]:
    """The repeated blocks FSDP shards one by one (``model.model.layers`` for Llama-style
    transformers models, ``transformer.h`` for GPT-2-style ones)."""
    for path in ("model.layers", "transformer.h", "gpt_neox.layers", "model.decoder.layers"):
        try:
            return list(model.get_submodule(path))
        except AttributeError:
            continue
    return []


def token_weight(tokens: int, finite: bool, w: World | None) -> tuple[float, float, bool]:
    """(weight of this rank's loss in backward, weight in the logged global loss, whether
    every rank's loss is finite): ``N * t_r / T`` and ``t_r / T`` over all ranks' tokens."""
    if w is None:
        return 1.0, 1.0, finite
    import torch.distributed as dist

    t = torch.tensor([float(tokens), 0.0 if finite else 1.0], dtype=torch.float64)
    t = t.to(w.device)
    dist.all_reduce(t)
    total, bad = float(t[0]), float(t[1])
    share = tokens / total if total > 0 else 1.0 / w.size
    return w.size * share, share, bad == 0


def global_sum(value: float, w: World | None) -> float:
    """``value`` summed over the ranks."""
    if w is None:
        return value
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64, device=w.device)
    dist.all_reduce(t)
    return float(t.item())


def _options(full: bool = True) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=full, cpu_offload=True)


def full_state(model: Any, opt: Any, sharded: bool) -> tuple[dict, dict]:
    """(model, optimizer) state dicts with whole tensors on CPU (collective under FSDP: every
    rank calls it; rank 0 gets them). The optimizer state is keyed by parameter name, so a
    checkpoint loads with any N and either strategy."""
    from torch.distributed.checkpoint.state_dict import get_state_dict

    if not sharded:
        from torch.distributed.checkpoint.state_dict import (
            get_model_state_dict,
            get_optimizer_state_dict,
        )

        opts = _options(full=False)
        return get_model_state_dict(model, options=opts), get_optimizer_state_dict(
            model, opt, options=opts
        )
    return get_state_dict(model, opt, options=_options())


def load_state(model: Any, opt: Any, model_sd: dict, opt_sd: dict, sharded: bool) -> None:
    """Load what :func:`full_state` saved (every rank reads the file; FSDP keeps its shard)."""
    from torch.distributed.checkpoint.state_dict import set_state_dict

    set_state_dict(
        model,
        opt,
        model_state_dict=model_sd,
        optim_state_dict=opt_sd,
        options=_options(full=sharded),
    )


def plain_copy(model: Any, state: dict) -> Any:
    """An unsharded model of ``model``'s config holding ``state`` (rank 0 saves it)."""
    from transformers import AutoModelForCausalLM

    plain = AutoModelForCausalLM.from_config(model.config)
    plain.load_state_dict(state)
    plain.generation_config = model.generation_config
    return plain.eval()


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    from edgekd.fileio import atomic_save

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save(path, lambda tmp: torch.save(state, tmp))
