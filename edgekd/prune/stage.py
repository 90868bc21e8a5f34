"""The ``prune`` pass: prune the distilled student and fine-tune it under the distillation
loss (the run's teacher outputs); the result is written as ``student-pruned.safetensors``
(a state dict: its size tracks the parameter count) with a model spec marked ``resized``, so
later passes rebuild it with real (narrower) layers. The pass also times the parent and the
pruned model on this host (batch 1), so the report can say when pruning made it slower."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekd.artifact import Artifact
from edgekd.passes import Services, pick
from edgekd.progress import epoch_info

if TYPE_CHECKING:
    from edgekd.recipe.schema import Recipe


def run(inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services) -> list[Artifact]:
    from edgekd.models.files import save_weights
    from edgekd.models.load import load_artifact
    from edgekd.models.spec import ModelSpec
    from edgekd.prune.api import prune
    from edgekd.teacher.stage import logits_of

    data, parent = env.data, pick(inputs, "student")
    steps = cfg.prune.steps
    task = env.reporter.task(f"prune ({cfg.prune.method})", steps)
    try:
        model, report = prune(
            load_artifact(parent, run_dir),
            cfg.prune,
            data,
            logits_of(inputs, run_dir)["train"],
            cfg.distill,
            progress=lambda e, n, info: task.update(min(e, steps), epoch_info(info)),
        )
    finally:
        task.close()
    from edgekd.distributed import world

    if not world.is_main():
        return []  # fine-tuned with rank 0 (DDP); rank 0 writes the model
    if "warning" in report:
        env.reporter.log(f"[yellow]warning: {report['warning']}[/]")
    path = run_dir / "student-pruned.safetensors"
    save_weights(model, path)
    report["host_latency_ms"] = host_latency(
        load_artifact(parent, run_dir), model, data.val.take(1)
    )
    spec = replace(ModelSpec.from_dict(parent.extra["model"]), resized=True)
    art = Artifact(
        id="student-pruned",
        role="student",
        stage="prune",
        format="torch",
        precision="fp32",
        path=path.name,
        parent=parent.id,
        params=report["after"]["params"],
        macs=report["after"]["macs"],
        extra={"prune": report, "model": spec.to_dict()},
    )
    return [art.stamp(run_dir)]


def host_latency(before: Any, after: Any, x: Any, repeats: int = 200) -> dict[str, float]:
    """p50 ms of one batch-1 forward of each model (torch, this thread count), interleaved
    round by round so load on a shared machine weighs on both alike."""
    import time

    import numpy as np
    import torch

    from edgekd.data.inputs import to_torch

    sample = to_torch(x)  # one array, or several inputs (text)
    times: dict[str, list[float]] = {"before": [], "after": []}
    with torch.inference_mode():
        for m in (before, after):
            m.eval()(*sample)  # warm-up
        for _ in range(repeats):
            for key, m in (("before", before), ("after", after)):
                t0 = time.perf_counter()
                m(*sample)
                times[key].append((time.perf_counter() - t0) * 1e3)
    return {k: float(np.median(v)) for k, v in times.items()}
