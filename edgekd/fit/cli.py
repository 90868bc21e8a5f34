"""``edgekd fit RECIPE --target NAME``: search for the best student under a device's budgets.

Heavy backends (torch, optuna) are imported inside the command, never at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def parse_budgets(items: list[str]) -> dict[str, float]:
    """``KEY=VALUE`` flags as a budget dict (keys are checked against the target later)."""
    from edgekd.errors import UsageError

    out: dict[str, float] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--budget {item!r}: expected KEY=VALUE, e.g. latency_ms=5")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise UsageError(f"--budget {item!r}: {value!r} is not a number") from None
    return out


def register(app: typer.Typer) -> None:
    app.command("fit")(fit)


def fit(
    recipe: Annotated[
        Path | None,
        typer.Argument(help="Recipe YAML (default: built-in digits recipe)."),
    ] = None,
    target: Annotated[str, typer.Option("--target", help="Target to fit (name or YAML).")] = "",
    budget: Annotated[
        list[str] | None,
        typer.Option("--budget", help="Override a budget of the target: KEY=VALUE."),
    ] = None,
    trials: Annotated[int, typer.Option("--trials", help="Candidates to try.")] = 20,
    time_budget: Annotated[
        float | None,
        typer.Option("--time-budget", help="Stop searching after MIN minutes."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the last unfinished search.")
    ] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a recipe field: KEY.PATH=VALUE."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Directory for run directories.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Search student family (cnn, mlp), width/depth, prune ratio and precision for a target's
    budgets (Optuna, accuracy vs predicted latency), then run the whole pipeline on the best."""
    import shlex

    from edgekd.errors import Interrupted, RunInterrupted, UsageError
    from edgekd.fit.api import fit as run_fit
    from edgekd.progress import NullReporter, RichReporter
    from edgekd.recipe.load import load_recipe

    if not target:
        raise UsageError("--target is required: a shipped target name (edgekd targets list)")
    budgets = parse_budgets(budget or [])
    r = load_recipe(recipe, list(set_ or []))
    reporter = NullReporter() if quiet else RichReporter()
    try:
        result = run_fit(
            r, target, budgets, trials=trials, time_budget_min=time_budget, resume=resume,
            out_dir=out, reporter=reporter,
        )  # fmt: skip
    except RunInterrupted as exc:
        again = [
            "edgekd",
            "fit",
            *([str(recipe)] if recipe else []),
            "--target",
            target,
        ]
        for flag, items in (("--budget", budget), ("--set", set_)):
            for item in items or []:
                again += [flag, item]
        again += [
            "--trials",
            str(trials),
            *(["--out", str(out)] if out else []),
            "--resume",
        ]
        raise Interrupted(
            f"interrupted: fit directory {exc.run_dir} kept (its finished trials are in "
            f"study.db); resume with: {shlex.join(again)}"
        ) from None
    finally:
        reporter.close()
    f, pipe = result.fit, result.fit["pipeline"]
    chosen = f["chosen"]
    typer.echo(
        f"chosen: trial {chosen['number']} of {len(f['trials'])}, {chosen['candidate']} "
        f"(val {100 * chosen['val_accuracy']:.2f}%, predicted {chosen['latency_ms']:.4g} ms)"
    )
    verdict = "passes every budget" if pipe["fits"] else "does not fit"
    acc = pipe["test_accuracy"]
    typer.echo(
        f"ship {pipe['artifact']} on {f['target']}: test accuracy "
        f"{'-' if acc is None else f'{100 * acc:.2f}%'}, {verdict}"
    )
    typer.echo(f"run directory: {result.run_dir}")
    typer.echo(f"report: {result.run_dir / 'report.html'}")
    typer.echo(f"pipeline report: {result.run_dir / pipe['run_dir'] / 'report.html'}")
