"""The pass loop on a distributed run: who runs which pass, and where the ranks meet.

Rank 0 runs the plan as a single process does and is the only one that writes the run
directory. A pass marked ``distributed`` (the teacher-output cache fill, distillation, the
baseline, pruning's fine-tuning, QAT) runs on every rank inside
:func:`edgekd.distributed.world.collective`: the training loops train together under DDP and
only rank 0 saves. The other passes run on rank 0 alone while the other ranks wait.

Per pass, up to the last distributed one, the ranks meet three times: rank 0 says whether
the pass is already done (``--resume``), every rank reports its time on the pass, and all
wait until rank 0 has saved the manifest, which the others then read for the next pass's
inputs. After the last distributed pass the other ranks leave; rank 0 exports, evaluates,
profiles and reports alone.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekd.distributed import world
from edgekd.errors import UsageError

if TYPE_CHECKING:
    from edgekd.passes import Services
    from edgekd.pipeline.plan import Pass
    from edgekd.recipe.schema import Recipe


def last_distributed(passes: list[Pass]) -> int:
    """Index of the last pass every rank runs (-1: none)."""
    return max((i for i, p in enumerate(passes) if p.distributed), default=-1)


def batch_sizes(recipe: Recipe) -> dict[str, int]:
    """The global batch size of every training loop this recipe runs on all ranks."""
    if recipe.task == "causal_lm":
        return {"distill.lm.batch_size": recipe.distill.lm.batch_size}
    out = {"distill.batch_size": recipe.distill.batch_size}
    if recipe.prune.method != "none":
        out["prune.fine_tune.batch_size"] = recipe.prune.fine_tune.batch_size
    if recipe.quantize.method == "qat":
        out["quantize.qat.batch_size"] = recipe.quantize.qat.batch_size
    return out


def check_batch_sizes(recipe: Recipe, nproc: int) -> None:
    """Each rank trains on global batch / N samples, so N must divide every batch size:
    then results do not depend on N beyond floating point."""
    for field, size in batch_sizes(recipe).items():
        if size % nproc:
            raise UsageError(
                f"{field}: {size} is not a multiple of the {nproc} processes; each process "
                f"trains on batch_size / {nproc} samples (use e.g. {size - size % nproc or nproc})"
            )


def timing(seconds: float) -> dict[str, Any]:
    """What a rank reports about one pass."""
    return {**world.rank_info(), "seconds": round(seconds, 3)}


def follow(passes: list[Pass], recipe: Recipe, run_path: Path, env: Services) -> None:
    """The loop of a rank other than 0: run the distributed passes with rank 0 (discarding
    outputs: rank 0 writes them), wait at the others, leave after the last distributed one."""
    from edgekd.rundir import RunDir

    for p in passes[: last_distributed(passes) + 1]:
        done = world.broadcast(None, f"whether pass {p.name} is done")
        if not done and p.distributed:
            inputs = p.select(RunDir.open(run_path).artifacts())
            started = time.perf_counter()
            with world.collective():
                p.run(inputs, recipe, run_path, env)
            world.gather(timing(time.perf_counter() - started), f"timings of pass {p.name}")
        world.wait(f"rank 0 finishing pass {p.name}")
