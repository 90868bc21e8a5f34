"""``compress``: run a recipe end to end into a run directory.

recipe → data → teacher → teacher outputs (cached) → distill (+ baseline) → export →
evaluate → profile → report. Stages that finished are not redone on ``resume``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekd.errors import EdgekdError, RecipeError, UsageError
from edgekd.pipeline import stages
from edgekd.pipeline.context import Context
from edgekd.progress import NullReporter, Reporter
from edgekd.recipe.schema import Recipe
from edgekd.rundir import RunDir, config_hash

StageFn = Callable[[Context], None]

# Stages whose results live only in the manifest and files: skipped on resume once done.
# The others are cheap or restore themselves (data, cached teacher, checkpoints), or rebuild
# the in-memory models that later stages need (pruning, exports).
RESUMABLE = {"evaluate", "profile"}


@dataclass
class RunResult:
    run_dir: Path
    manifest: dict[str, Any]
    report: dict[str, Any]


def plan(recipe: Recipe) -> list[tuple[str, StageFn]]:
    """The stages this recipe runs, in order."""
    out: list[tuple[str, StageFn]] = [
        ("data", stages.stage_data),
        ("teacher", stages.stage_teacher),
        ("teacher_outputs", stages.stage_teacher_outputs),
        ("distill", stages.stage_distill),
    ]
    if recipe.distill.baseline:
        out.append(("baseline", stages.stage_baseline))
    if recipe.prune.method != "none":
        out.append(("prune", stages.stage_prune))
    if "onnx" in recipe.export.formats:
        out.append(("export_onnx", stages.stage_export_onnx))
    if recipe.quantize.method != "none":
        if recipe.quantize.method != "qat" and "onnx" not in recipe.export.formats:
            raise RecipeError(
                f"quantize.method: {recipe.quantize.method!r} quantizes the ONNX export; "
                "add onnx to export.formats (or use method qat)"
            )
        out.append(("quantize", stages.stage_quantize))
    if "tflite" in recipe.export.formats:
        out.append(("export_tflite", stages.stage_export_tflite))
    out.append(("evaluate", stages.stage_evaluate))
    out.append(("profile", stages.stage_profile))
    return out


def compress(
    recipe: Recipe | None = None,
    *,
    out_dir: str | Path | None = None,
    resume: bool = False,
    reporter: Reporter | None = None,
) -> RunResult:
    """Run ``recipe`` (default: the built-in digits recipe) and return the run directory.

    Raises the typed errors of :mod:`edgekd.errors`; the manifest records which stage failed.
    """
    from edgekd.cache import Cache, cache_root
    from edgekd.data.text import resolve_tokenizers
    from edgekd.models.preflight import check_models
    from edgekd.recipe.load import load_recipe
    from edgekd.report.build import write_reports
    from edgekd.train.threads import torch_threads

    recipe = resolve_tokenizers(recipe or load_recipe(None))
    check_models(recipe)  # a misspelt model or missing file fails before any work
    reporter = reporter or NullReporter()
    out = Path(out_dir) if out_dir is not None else recipe.output.dir
    recipe_json = recipe.model_dump(mode="json")
    run = None
    if resume:
        run = RunDir.latest_unfinished(out, recipe.output.name, config_hash(recipe_json))
        if run is None:
            raise UsageError(
                f"--resume: no unfinished run of {recipe.output.name!r} "
                f"with this recipe under {out}"
            )
        reporter.log(f"resuming {run.path}")
    else:
        run = RunDir.create(out, recipe.output.name, recipe_json)
    ctx = Context(
        recipe=recipe,
        run=run,
        reporter=reporter,
        cache=Cache(
            cache_root(recipe.output.cache_dir), record=run.manifest.setdefault("cache", []).append
        ),
    )
    run.manifest["status"] = "running"
    with torch_threads(recipe.threads):
        for name, fn in plan(recipe):
            if name in RESUMABLE and run.stage_done(name):
                continue
            started = run.begin_stage(name)
            try:
                fn(ctx)
            except BaseException as exc:
                status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
                run.manifest["status"] = status
                msg = str(exc) if isinstance(exc, EdgekdError) else f"{type(exc).__name__}: {exc}"
                run.end_stage(name, started, status=status, error=msg)
                raise
            run.end_stage(name, started)
    run.manifest["status"] = "complete"
    report = write_reports(run)
    run.save()
    return RunResult(run.path, run.manifest, report)
