"""``compress``: run a recipe end to end into a run directory.

The plan (``pipeline.plan``) lists the passes; the engine (``pipeline.engine``) runs them and
records lineage and timings in the manifest. On ``resume`` every pass whose outputs exist
for the same inputs and config is skipped. Ctrl-C marks the run ``interrupted`` and raises
:class:`~edgekd.errors.RunInterrupted` naming it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgekd.distributed import world
from edgekd.errors import RunInterrupted
from edgekd.pipeline.distributed import check_batch_sizes, follow
from edgekd.pipeline.resume import find_run, prepare_resume
from edgekd.progress import NullReporter, Reporter
from edgekd.recipe.schema import Recipe
from edgekd.rundir import RunDir


@dataclass
class RunResult:
    run_dir: Path
    manifest: dict[str, Any]
    report: dict[str, Any]


def compress(
    recipe: Recipe | None = None,
    *,
    out_dir: str | Path | None = None,
    resume: bool = False,
    reporter: Reporter | None = None,
) -> RunResult:
    """Run ``recipe`` (default: the built-in digits recipe) and return the run directory.

    Raises the typed errors of :mod:`edgekd.errors`; the manifest records which pass failed.
    """
    from edgekd.cache import Cache, cache_root
    from edgekd.data.loaders import load_data
    from edgekd.data.text import resolve_tokenizers
    from edgekd.models.preflight import check_models
    from edgekd.passes import Services
    from edgekd.pipeline.engine import run_passes
    from edgekd.pipeline.plan import plan
    from edgekd.recipe.load import load_recipe
    from edgekd.report.build import write_reports
    from edgekd.train.threads import torch_threads

    recipe = recipe or load_recipe(None)
    if recipe.task == "causal_lm":
        from edgekd.pipeline.lm import preflight

        preflight(recipe)  # the dataset and the hf: models, before any work
    else:
        recipe = resolve_tokenizers(recipe)  # data.text tokenizers from the hf: models
        check_models(recipe)  # a misspelt model or missing file fails before any work
    reporter = reporter or NullReporter()
    out = Path(out_dir) if out_dir is not None else recipe.output.dir
    recipe_json = recipe.model_dump(mode="json")
    passes = plan(recipe)  # a recipe the plan refuses never makes a run directory
    w = world.init()  # launched by torchrun / accelerate: join the group
    if w is not None:
        check_batch_sizes(recipe, w.size)
        if not w.is_main:
            return _follow(recipe, passes)
    if resume:
        run = find_run(out, recipe_json)
        entry = prepare_resume(run, [p.name for p in passes])
        reporter.log(f"resuming {run.path} from pass {entry['from_stage']}")
    else:
        run = RunDir.create(out, recipe.output.name, recipe_json)
    attempts = run.manifest.setdefault("attempts", [])
    attempts.append(
        {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "resume": resume}
    )
    current = {"pass": ""}
    events = run.manifest.setdefault("cache", [])
    cache = Cache(
        cache_root(recipe.output.cache_dir),
        record=lambda e: events.append({**e, "pass": current["pass"]}),
    )
    env = Services(reporter, cache, functools.cache(lambda: load_data(recipe.data)))
    if recipe.task == "causal_lm":
        from edgekd.pipeline.lm import lm_services

        env = lm_services(recipe, reporter, cache)
    run.manifest["status"] = "running"
    if w is not None:
        run.manifest["distributed"] = {**w.describe(), "strategy": strategy(recipe)}
        attempts[-1]["world_size"] = w.size
        world.broadcast(str(run.path), "the run directory")
    try:
        with torch_threads(recipe.threads):
            skipped = run_passes(
                passes, recipe, run, env, on_pass=lambda n: current.update({"pass": n})
            )
        attempts[-1]["skipped"] = skipped
        run.manifest["status"] = "complete"
        report = write_reports(run)
        run.save()
    except KeyboardInterrupt:
        run.manifest["status"] = "interrupted"
        run.save()
        raise RunInterrupted(run.path) from None
    return RunResult(run.path, run.manifest, report)


def strategy(recipe: Recipe) -> str:
    """How the ranks share the student: ``ddp`` (a whole copy each), or ``fsdp`` (sharded;
    ``distill.lm.strategy``, language models)."""
    return recipe.distill.lm.strategy if recipe.task == "causal_lm" else "ddp"


def _follow(recipe: Recipe, passes: list) -> RunResult:
    """A rank other than 0: train with rank 0 in the distributed passes, write nothing."""
    from edgekd.cache import Cache, cache_root
    from edgekd.data.loaders import load_data
    from edgekd.passes import Services
    from edgekd.train.threads import torch_threads

    run_path = Path(world.broadcast("", "the run directory"))
    cache = Cache(cache_root(recipe.output.cache_dir))
    env = Services(NullReporter(), cache, functools.cache(lambda: load_data(recipe.data)))
    if recipe.task == "causal_lm":
        from edgekd.pipeline.lm import lm_services

        env = lm_services(recipe, NullReporter(), cache)
    with torch_threads(recipe.threads):
        follow(passes, recipe, run_path, env)
    return RunResult(run_path, {}, {})
