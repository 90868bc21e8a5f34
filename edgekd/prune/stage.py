"""The ``prune`` pass: prune the distilled student and fine-tune it under the distillation
loss (the run's teacher outputs); the result is written as ``student-pruned.pt2`` with a
model spec, so later passes rebuild it with real (narrower) layers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from edgekd.artifact import Artifact
from edgekd.passes import Services, pick
from edgekd.progress import epoch_info

if TYPE_CHECKING:
    from edgekd.recipe.schema import Recipe


def run(inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services) -> list[Artifact]:
    from edgekd.models.files import save_exported
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
    path = run_dir / "student-pruned.pt2"
    save_exported(model, data.val.take(2), path)  # type: ignore[arg-type]
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
