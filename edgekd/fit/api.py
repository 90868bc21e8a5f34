"""``edgekd.fit``: the best student for one target's budgets, then the whole pipeline on it.

The fit run directory (``runs/fit-<name>-<timestamp>/``) holds the data and teacher passes'
outputs (the teacher's outputs are computed once, through the one cache, and every candidate
is distilled from them), ``study.db`` (the Optuna study in SQLite: ``resume`` continues it),
``trials.json`` (every trial: candidate, estimate, outcome, accuracy, curve), ``fit.json``
(the Pareto front, the choice, candidates the pipeline rejected, and its verdict),
``report.html`` (the Pareto front plot and the trials) and ``chosen/``, the ``edgekd
compress`` run of the chosen candidate (export, parity, evaluation, verdicts).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekd.errors import (
    BudgetError,
    ParityError,
    RunInterrupted,
    StageError,
    UsageError,
)
from edgekd.fit.space import Candidate, Space
from edgekd.progress import NullReporter, Reporter
from edgekd.recipe.schema import Recipe
from edgekd.rundir import RunDir, config_hash

ATTEMPTS = 3  # best candidates taken through the pipeline before giving up
SAMPLES_PER_TRIAL = 5  # candidates sampled per trained trial at most (the rest cannot fit)


@dataclass
class FitResult:
    run_dir: Path
    fit: dict[str, Any]
    pipeline: Any  # the chosen candidate's RunResult


def fit(
    recipe: Recipe | None = None,
    target: str = "nano-33-ble",
    budgets: dict[str, float] | None = None,
    *,
    trials: int = 20,
    time_budget_min: float | None = None,
    resume: bool = False,
    out_dir: str | Path | None = None,
    space: Space | None = None,
    reporter: Reporter | None = None,
) -> FitResult:
    """Search ``space`` for the most accurate student that fits ``target`` (its default
    budgets overlaid with ``budgets``), training ``trials`` candidates (those predicted not
    to fit are skipped untrained and do not count) in at most ``time_budget_min`` minutes,
    then run the whole pipeline on it. Raises ``BudgetError`` when no candidate fits."""
    from edgekd.recipe.load import load_recipe

    recipe = recipe or load_recipe(None)
    space = space or Space()
    reporter = reporter or NullReporter()
    budget = _check(recipe, target, budgets, trials, time_budget_min, space)
    settings = {"target": target, "budget": budget, "space": space.to_dict()}
    key = {"recipe": recipe.model_dump(mode="json"), "fit": settings}
    out = Path(out_dir) if out_dir is not None else recipe.output.dir
    run = _find(out, key) if resume else RunDir.create(out, f"fit-{recipe.output.name}", key)
    run.manifest["status"] = "running"
    started = time.monotonic()
    try:
        return _fit(recipe, run, target, budget, space, trials, time_budget_min, reporter,
                    started)  # fmt: skip
    except KeyboardInterrupt:
        run.manifest["status"] = "interrupted"
        run.save()
        raise RunInterrupted(run.path) from None


def _fit(
    recipe: Recipe, run: RunDir, target: str, budget: dict[str, float], space: Space,
    trials: int, minutes: float | None, reporter: Reporter, started: float,
) -> FitResult:  # fmt: skip
    from edgekd.fit.search import pareto, ranked
    from edgekd.pipeline.compress import compress

    search = _search(recipe, run, target, budget, space, reporter)
    rows = _optimize(search, run, trials, minutes, reporter)

    picks = ranked(rows)
    result: dict[str, Any] = {
        "schema": "edgekd.fit/1", "target": target, "budget": budget, "space": space.to_dict(),
        "trials": rows, "pareto_front": pareto(rows), "chosen": None, "rejected": [],
    }  # fmt: skip
    if not picks:
        _write(run, result, status="failed")
        raise BudgetError(_none_fits(rows, target))
    for pick in picks[:ATTEMPTS]:
        cand = Candidate(**pick["params"])
        reporter.log(f"trial {pick['number']}, {cand.label}: running the whole pipeline")
        try:
            final = compress(
                cand.recipe(recipe, target, budget), out_dir=run.path / "chosen",
                reporter=reporter,
            )  # fmt: skip
        except (StageError, ParityError) as exc:  # e.g. int8 misses its parity gate
            result["rejected"].append({"trial": pick["number"], "why": str(exc)})
            reporter.log(f"[yellow]trial {pick['number']} rejected: {exc}[/]")
            continue
        pipe = _pipeline_summary(final, run.path, target)
        if not pipe["fits"]:  # the simulator judged the exported files, not the estimate
            why = "; ".join(f"{f['key']} {f['value']} > {f['limit']}" for f in pipe["failing"])
            result["rejected"].append({"trial": pick["number"], "why": f"does not fit: {why}"})
            continue
        result.update(chosen=pick, pipeline=pipe, seconds=round(time.monotonic() - started, 1))
        _write(run, result, status="complete")
        return FitResult(run.path, result, final)
    _write(run, result, status="failed")
    raise BudgetError(
        f"none of the {min(len(picks), ATTEMPTS)} best candidates made it through the pipeline "
        "for " + target + ": " + " | ".join(f"trial {r['trial']}: {r['why']}"
                                            for r in result["rejected"])
    )  # fmt: skip


def _check(
    recipe: Recipe,
    target: str,
    budgets: dict[str, float] | None,
    trials: int,
    minutes: float | None,
    space: Space,
) -> dict[str, float]:
    from edgekd.profile.budgets import resolve_budget
    from edgekd.profile.targets import load_target

    if recipe.task != "classification":
        raise UsageError(
            f"task: {recipe.task}; edgekd fit searches classification students (zoo families)"
        )
    model = recipe.student.model
    if model is not None and not model.startswith("zoo:"):
        raise UsageError(
            f"student.model: {model!r}; edgekd fit searches zoo students (student.arch, width, "
            "depth): remove student.model or use zoo:<arch>"
        )
    if trials < 1:
        raise UsageError(f"--trials {trials}: must be at least 1")
    if minutes is not None and minutes <= 0:
        raise UsageError(f"--time-budget {minutes}: must be more than 0 minutes")
    from edgekd.models.zoo import ZOO

    bad = [a for a in space.archs if a not in ZOO]
    if bad:
        raise UsageError(f"unknown student family {bad[0]!r}; known: {', '.join(ZOO)}")
    return resolve_budget(load_target(target), budgets or {})


def _find(out: Path, key: dict[str, Any]) -> RunDir:
    """The newest unfinished fit with the same recipe, target, budget and space."""
    chash = config_hash(key)
    for run in RunDir.unfinished(out):
        if run.manifest.get("config_hash") == chash and (run.path / "study.db").is_file():
            return run
    raise UsageError(
        f"--resume: no unfinished edgekd fit under {out} with this recipe, target, budgets "
        "and search space (--set, --target and --budget must be the same)"
    )


def _search(
    recipe: Recipe, run: RunDir, target: str, budget: dict[str, float], space: Space,
    reporter: Reporter,
) -> Any:  # fmt: skip
    """The data and teacher passes (skipped when done: a resumed fit never retrains the
    teacher), then the search context over their outputs."""
    from edgekd.cache import Cache, cache_root
    from edgekd.data.loaders import load_data
    from edgekd.fit.search import Search
    from edgekd.passes import Services
    from edgekd.pipeline.engine import run_passes
    from edgekd.pipeline.plan import plan
    from edgekd.teacher.stage import logits_of
    from edgekd.train.threads import torch_threads

    env = Services(
        reporter, Cache(cache_root(recipe.output.cache_dir)),
        functools.cache(lambda: load_data(recipe.data)),
    )  # fmt: skip
    first = [p for p in plan(recipe) if p.name in ("data", "teacher", "teacher_outputs")]
    with torch_threads(recipe.threads):
        run_passes(first, recipe, run, env)
    run.save()
    logits = logits_of(run.artifacts(), run.path)
    if not space.for_input(env.data.input_shape):
        raise UsageError(
            f"no student family of the search space ({', '.join(space.archs)}) reads inputs "
            f"of shape {env.data.input_shape}: 'cnn' needs (C, H, W) images; add 'mlp'"
        )
    return Search(recipe, env.data, logits, target, budget, space, run.path, reporter)


def _optimize(
    search: Any, run: RunDir, trials: int, minutes: float | None, reporter: Reporter
) -> list[dict[str, Any]]:
    """Train candidates until ``trials`` of them were trained (or stopped early); candidates
    skipped because they cannot fit cost only their estimate and do not count, up to
    ``SAMPLES_PER_TRIAL`` samples per trial. A resumed study keeps what it finished."""
    import optuna

    from edgekd.fileio import atomic_write_json
    from edgekd.fit.search import open_study, seeds, trial_rows
    from edgekd.train.threads import torch_threads

    study = open_study(run.path / "study.db", search.recipe.distill.seed, trials)

    def trained(study: optuna.Study) -> int:
        states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        return sum(
            not str(t.user_attrs.get("outcome", "")).startswith("skipped")
            for t in study.get_trials(deepcopy=False, states=states)
        )

    if not study.trials:  # a new search starts where a user would: the recipe's student
        for params in seeds(search.recipe, search.space, search.data.input_shape):
            study.enqueue_trial(params)
    sampled = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    todo = max(0, trials - trained(study))
    if sampled:
        reporter.log(f"{len(sampled)} candidate(s) already tried in {run.path}; {todo} to go")

    def record(study: optuna.Study, _: Any) -> None:
        atomic_write_json(run.path / "trials.json", trial_rows(study))
        if trained(study) >= trials:
            study.stop()

    if todo:
        with torch_threads(search.recipe.threads):
            study.optimize(
                search.objective, n_trials=SAMPLES_PER_TRIAL * trials - len(sampled),
                timeout=None if minutes is None else minutes * 60, callbacks=[record], catch=(),
            )  # fmt: skip
    rows = trial_rows(study)
    atomic_write_json(run.path / "trials.json", rows)
    return rows


def _none_fits(rows: list[dict[str, Any]], target: str) -> str:
    tried = [r for r in rows if r.get("estimate")]
    if not tried:
        return f"edgekd fit: no trial finished for {target}"
    close = min(tried, key=lambda r: r["estimate"].get("latency_ms") or float("inf"))
    why = "; ".join(str(v.get("message")) for v in close["estimate"]["violations"]) or "-"
    return (
        f"no candidate of the search space fits {target}'s budgets in {len(rows)} sampled; "
        f"the fastest tried, {close['candidate']}: {why}"
    )


def _pipeline_summary(final: Any, fit_dir: Path, target: str) -> dict[str, Any]:
    """What the chosen candidate's full run says: the artifact to ship and its verdict."""
    report = final.report
    pick = (report.get("chosen") or {}).get(target) or {}
    arts = {a["id"]: a for a in report["artifacts"]}
    ship = pick.get("artifact")
    return {
        "run_dir": str(final.run_dir.relative_to(fit_dir)),
        "artifact": ship,
        "fits": bool(pick.get("fits")),
        "test_accuracy": ((arts.get(ship) or {}).get("metrics") or {}).get("accuracy"),
        "file_bytes": (arts.get(ship) or {}).get("file_bytes"),
        "latency_ms": pick.get("latency_ms"),
        "failing": pick.get("failing") or [],
    }


def _write(run: RunDir, result: dict[str, Any], status: str) -> None:
    from edgekd.fileio import atomic_write_json, atomic_write_text
    from edgekd.fit.report import render_fit_html

    atomic_write_json(run.path / "fit.json", result)
    atomic_write_text(run.path / "report.html", render_fit_html(result))
    run.manifest["status"] = status
    run.save()
