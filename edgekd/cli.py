"""The ``edgekd`` command line: a thin layer over the Python API.

Exit codes (DESIGN.md): 0 success, 1 pipeline failure, 2 bad usage or input, 3 budget
violated with ``--fail-on-budget``, 130 interrupted (Ctrl-C). User errors print one message, no
traceback (``--debug`` shows it). Heavy backends are imported inside commands, never at
start-up.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="edgekd",
    help="Distill, prune, quantize, export and profile models for phones, boards and MCUs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_state: dict[str, Any] = {"debug": False, "argv": []}


@app.callback()
def _root(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help="Show tracebacks, and the log lines of the libraries underneath."
        ),
    ] = False,
) -> None:
    _state["debug"] = debug


@app.command()
def compress(
    recipe: Annotated[
        Path | None, typer.Argument(help="Recipe YAML (default: built-in digits recipe).")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a field: KEY.PATH=VALUE.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Directory for run directories.")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the last unfinished run of this recipe.")
    ] = False,
    fail_on_budget: Annotated[
        bool, typer.Option("--fail-on-budget", help="Exit 3 if a budget is violated.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    allow_degraded: Annotated[
        bool,
        typer.Option(
            "--allow-degraded", help="Keep going when quantization misses its accuracy bar."
        ),
    ] = False,
    nproc: Annotated[
        int | None,
        typer.Option(
            "--nproc",
            min=1,
            help="Train on N processes on this machine (torchrun --standalone underneath).",
        ),
    ] = None,
) -> None:
    """Run a recipe end to end: distill, prune, export, quantize, evaluate, profile, report."""
    from edgekd.distributed import world
    from edgekd.errors import Interrupted, RunInterrupted
    from edgekd.pipeline.compress import compress as run_compress
    from edgekd.progress import NullReporter, RichReporter
    from edgekd.recipe.load import load_recipe

    r = load_recipe(
        recipe, [*(set_ or []), *(["quantize.allow_degraded=true"] if allow_degraded else [])]
    )
    if nproc is not None:
        _launch(nproc, r)
        return
    if world.init() is not None and not world.is_main():
        quiet = True  # rank 0 shows the (global) progress
    reporter = NullReporter() if quiet else RichReporter()
    try:
        result = run_compress(r, out_dir=out, resume=resume, reporter=reporter)
    except RunInterrupted as exc:
        again = ["edgekd", "compress", *([str(recipe)] if recipe else [])]
        for item in set_ or []:
            again += ["--set", item]
        again += [*(["--out", str(out)] if out else []), *(["--quiet"] if quiet else [])]
        again += [*(["--fail-on-budget"] if fail_on_budget else [])]
        again += [*(["--allow-degraded"] if allow_degraded else []), "--resume"]
        raise Interrupted(
            f"interrupted: run directory {exc.run_dir} kept (status interrupted); "
            f"resume with: {shlex.join(again)}"
        ) from None
    finally:
        reporter.close()
    if not world.is_main():
        return  # rank 0 prints the summary and checks the budgets
    from edgekd.report.summary import print_summary

    print_summary(result.run_dir, result.report, result.manifest)
    if fail_on_budget:
        from edgekd.profile.budgets import check_budgets

        check_budgets(result.report.get("profiles", []))


def _launch(nproc: int, r: Any) -> None:
    """``--nproc N``: the recipe is valid (checked above); start N ranks of this command."""
    from edgekd.distributed import launch, world
    from edgekd.errors import UsageError
    from edgekd.pipeline.distributed import check_batch_sizes

    if world.launched():
        raise UsageError(
            "--nproc: this process was already started by a launcher (RANK is set); "
            "drop --nproc and let torchrun/accelerate choose the number of processes"
        )
    check_batch_sizes(r, nproc)
    code = launch.launch(nproc, launch.strip_nproc(_state["argv"]))
    if code:
        raise typer.Exit(code)


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the starter recipe.")] = Path(
        "recipe.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter recipe (the built-in defaults)."""
    from edgekd.errors import UsageError
    from edgekd.fileio import atomic_write_text
    from edgekd.recipe.load import default_recipe_text

    if path.exists() and not force:
        raise UsageError(f"{path} exists; pass --force to overwrite it")
    try:
        atomic_write_text(path, default_recipe_text())
    except OSError as exc:
        raise UsageError(f"{path}: cannot write ({exc.strerror or exc})") from None
    typer.echo(f"wrote {path}; run it with: edgekd compress {path}")


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    format_: Annotated[
        list[str] | None,
        typer.Option(
            "--format",
            help="md, html or json; repeat for several (default: the recipe's report.formats).",
        ),
    ] = None,
) -> None:
    """Regenerate a run's reports from its manifest, without rerunning anything."""
    from edgekd.errors import UsageError
    from edgekd.report.build import FILES, FORMATS, recipe_formats, write_reports
    from edgekd.rundir import RunDir

    bad = [f for f in format_ or [] if f not in FORMATS]
    if bad:
        raise UsageError(f"--format {bad[0]!r}: expected one of {', '.join(FORMATS)}")
    run = RunDir.open(run_dir)
    formats = list(dict.fromkeys(format_ or recipe_formats(run.manifest)))
    write_reports(run, formats)
    for f in formats:
        typer.echo(str(run_dir / FILES[f]))


@app.command()
def compare(
    run_a: Annotated[Path, typer.Argument(help="Reference run directory (A).")],
    run_b: Annotated[Path, typer.Argument(help="Run directory to compare with A (B).")],
    json_: Annotated[bool, typer.Option("--json", help="Print JSON instead of Markdown.")] = False,
) -> None:
    """Show what changed from run A to run B: recipe, accuracy, size, predictions, verdicts."""
    import json

    from edgekd.report.build import build_report
    from edgekd.report.compare import compare as compare_runs
    from edgekd.report.compare import render_compare
    from edgekd.rundir import RunDir

    a, b = RunDir.open(run_a), RunDir.open(run_b)
    result = compare_runs(build_report(a.manifest), build_report(b.manifest), run_a, run_b)
    typer.echo(json.dumps(result, indent=2) if json_ else render_compare(result))


def _register_capabilities() -> None:
    """Commands that live with their stage: each module's ``register`` adds its commands.
    Those modules import nothing heavy at import time."""
    from edgekd.completions import cli as completions_cli
    from edgekd.export import cli as export_cli
    from edgekd.export import lm_cli
    from edgekd.fit import cli as fit_cli
    from edgekd.profile import cli as profile_cli
    from edgekd.prune import cli as prune_cli
    from edgekd.quantize import cli as quantize_cli

    for module in (
        export_cli, lm_cli, prune_cli, quantize_cli, profile_cli, completions_cli, fit_cli,
    ):  # fmt: skip
        module.register(app)


_register_capabilities()


def _rank_prefix() -> str:
    """``[rank 1/2] `` on the messages of one rank of a distributed run, else nothing."""
    from edgekd.distributed import world

    w = world.world()
    return f"[rank {w.rank}/{w.size}] " if w is not None and w.size > 1 else ""


def main(argv: list[str] | None = None) -> int:
    """Console entry point: returns the exit code (the console script passes it to sys.exit);
    typed errors become one message and their exit code."""
    from edgekd.errors import EdgekdError, Interrupted

    _state["argv"] = list(argv if argv is not None else sys.argv[1:])
    debug = _state["debug"] or "--debug" in _state["argv"]
    if not debug:  # before any backend loads: their C++ logging reads the environment once
        from edgekd.noise import quiet_backend_env

        quiet_backend_env()
    try:
        # click returns the code of a ``typer.Exit`` (130 for a Ctrl-C it caught) rather
        # than raising it when standalone_mode is off
        code = app(args=argv, standalone_mode=False)
    except EdgekdError as exc:
        if debug:
            raise
        msg = str(exc) if isinstance(exc, Interrupted) else f"error: {exc}"
        typer.echo(_rank_prefix() + msg, err=True)
        return exc.exit_code
    except KeyboardInterrupt:  # outside click's own handling (e.g. while it parses)
        code = 130
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        return 1
    except typer.TyperException as exc:  # click's usage errors (typer vendors click)
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        return int(getattr(exc, "exit_code", 2))
    except Exception as exc:
        if debug:
            raise
        typer.echo(
            f"{_rank_prefix()}error: {type(exc).__name__}: {exc} "
            "(run with --debug for the traceback)",
            err=True,
        )
        return 1
    if code == 130:
        typer.echo("interrupted", err=True)
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
