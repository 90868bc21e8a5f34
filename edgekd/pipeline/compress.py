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

from edgekd.errors import RunInterrupted
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

    recipe = resolve_tokenizers(recipe or load_recipe(None))
    check_models(recipe)  # a misspelt model or missing file fails before any work
    reporter = reporter or NullReporter()
    out = Path(out_dir) if out_dir is not None else recipe.output.dir
    recipe_json = recipe.model_dump(mode="json")
    passes = plan(recipe)  # a recipe the plan refuses never makes a run directory
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
    run.manifest["status"] = "running"
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
