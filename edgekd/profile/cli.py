"""``edgekd profile`` and ``edgekd targets``: a thin layer over ``edgekd.profile.api``.

Only typer is imported here; torch, onnx and the runtimes load inside the commands so that
``edgekd --help`` stays fast. Errors are raised as ``EdgekdError`` subclasses; edgekd's
``main()`` prints their message and exits with their code (``standalone()`` below does the
same when this module runs on its own: ``python -m edgekd.profile.cli``).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from edgekd.errors import BudgetError, EdgekdError, UsageError

targets_app = typer.Typer(help="List and show device targets.", no_args_is_help=True)


def parse_budgets(items: list[str]) -> dict[str, dict[str, float]]:
    """``NAME.KEY=VALUE`` strings -> {NAME: {KEY: VALUE}} (NAME may be a path with dots)."""
    out: dict[str, dict[str, float]] = {}
    for item in items:
        left, sep, value = item.partition("=")
        name, dot, key = left.rpartition(".")
        if not sep or not dot or not name or not key:
            raise UsageError(
                f"--budget {item!r}: expected NAME.KEY=VALUE, e.g. pixel-4.latency_ms=20"
            )
        try:
            out.setdefault(name, {})[key] = float(value)
        except ValueError:
            raise UsageError(f"--budget {item!r}: VALUE must be a number") from None
    return out


def profile_cmd(
    model: str = typer.Argument(..., help="ONNX or TFLite file, or zoo:NAME (reference model)"),
    target: list[str] = typer.Option(
        [], "--target", "-t", help="Target id or target YAML path (repeatable)"
    ),
    runtime: str | None = typer.Option(None, help="litert|onnxruntime|tflm|tflm-cmsis-nn"),
    budget: list[str] = typer.Option([], help="Override a budget: NAME.KEY=VALUE (repeatable)"),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON report"),
    no_measure: bool = typer.Option(False, "--no-measure", help="Skip host measurement"),
    fail_on_budget: bool = typer.Option(False, help="Exit 3 when any verdict is fail"),
    int8: bool = typer.Option(False, "--int8", help="Quantize a zoo: model to int8 (QDQ)"),
    threads: int | None = typer.Option(None, min=1, help="Threads (host and targets)"),
    strict: bool = typer.Option(False, help="Judge latency/energy by the band's high end"),
    accuracy: float | None = typer.Option(None, help="Accuracy to check against min_accuracy"),
    input_shape: list[str] = typer.Option(
        [], "--input-shape", help="Size of an input's symbolic dims: NAME=1,3,640,640 (repeatable)"
    ),
) -> None:
    """Profile a model: static analysis, host measurement and simulated device targets."""
    from edgekd.profile.api import profile
    from edgekd.profile.shapes import parse_input_shapes

    report = profile(
        model,
        targets=list(target) or None,
        runtime=runtime,
        budgets=parse_budgets(budget),
        measure=not no_measure,
        threads=threads,
        accuracy=accuracy,
        strict=strict,
        int8=int8,
        input_shapes=parse_input_shapes(input_shape),
    )
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        _print_report(report)
    failed = [t["name"] for t in report["targets"] if t["verdict"] == "fail"]
    if fail_on_budget and failed:
        raise BudgetError(f"budget violated on {', '.join(failed)}")


def _mb(n: float | None) -> str:
    """Bytes in decimal units (KB = 1000 B), three significant digits."""
    if n is None:
        return "-"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def _num(x: float) -> str:
    """Three significant digits without exponents (4270, 18.7, 0.0323)."""
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def _console() -> Any:
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=140)


def _print_report(report: dict[str, Any]) -> None:
    from rich.table import Table

    console = _console()
    m = report["model"]
    console.print(
        f"[bold]{m['path']}[/] {m['format']} {m['precision']}: {m['params']:,} params, "
        f"{m['macs'] / 1e6:.2f} M MACs, weights {_mb(m['weight_bytes'])}, "
        f"peak activations {_mb(m['peak_activation_bytes'])}",
        soft_wrap=True,
    )
    from edgekd.profile.shapes import format_shapes

    shapes = format_shapes(m.get("input_shapes") or {})
    console.print(f"input shapes: {shapes}", soft_wrap=True, markup=False)
    for note in m.get("shape_notes") or []:
        console.print(f"note: {note}", soft_wrap=True, markup=False)
    host = report["host"]
    if host and host["latency_ms"]["p50"] is not None:
        lat = host["latency_ms"]
        rss = _mb(host["peak_rss_bytes"])
        console.print(
            f"host ({host.get('runtime', '')}, {host['threads']} threads): "
            f"p50 {lat['p50']:.3f} ms, p90 {lat['p90']:.3f} ms, p99 {lat['p99']:.3f} ms, "
            f"peak RSS {rss}"
        )
    elif host:
        console.print(f"host measurement failed: {host.get('error')}")
    table = Table(title="simulated targets")
    for col in ("target", "runtime", "latency ms (band)", "peak RAM", "flash", "energy mJ"):
        table.add_column(col, no_wrap=True)
    table.add_column("verdict", no_wrap=True, min_width=11)
    colors = {"pass": "green", "fail": "red", "unsupported": "yellow"}
    reasons = []
    for t in report["targets"]:
        p = t["predicted"]
        lat = "-"
        if p["latency_ms"] is not None:
            lo, mid, hi = (_num(p[k]) for k in ("latency_ms_low", "latency_ms", "latency_ms_high"))
            lat = f"{mid} ({lo}-{hi})"
        energy = "-" if p["energy_mj"] is None else _num(p["energy_mj"])
        verdict = f"[{colors[t['verdict']]}]{t['verdict']}[/]"
        ram, flash = _mb(p["peak_ram_bytes"]), _mb(p["flash_bytes"])
        table.add_row(t["name"], t["runtime"], lat, ram, flash, energy, verdict)
        why = [v["message"] for v in t["violations"]] + t.get("unsupported", [])
        reasons += [f"{t['name']}: {w}" for w in why]
    console.print(table)
    for line in reasons:
        console.print(line, soft_wrap=True)


@targets_app.command("list")
def targets_list(as_json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """List the shipped device targets."""
    from edgekd.profile.targets import list_targets

    targets = list_targets()
    if as_json:
        typer.echo(json.dumps([t.model_dump() for t in targets], indent=2))
        return
    from rich.table import Table

    table = Table(title="device targets")
    for col in ("id", "kind", "name", "cores", "RAM", "flash", "default runtime"):
        table.add_column(col)
    for t in targets:
        cores = " + ".join(f"{c.count}x {c.uarch} @{c.freq_mhz:g} MHz" for c in t.cores)
        table.add_row(
            t.id, t.kind, t.name, cores, _mb(t.memory.ram_bytes), _mb(t.memory.flash_bytes),
            t.runtimes.default,
        )  # fmt: skip
    _console().print(table)


@targets_app.command("show")
def targets_show(name: str = typer.Argument(..., help="Target id or YAML path")) -> None:
    """Show one target with the source of every number."""
    import yaml

    from edgekd.profile.targets import load_target

    typer.echo(yaml.safe_dump(load_target(name).model_dump(), sort_keys=False, width=100))


def register(app: typer.Typer) -> None:
    """Add ``profile`` and the ``targets`` sub-app to edgekd's CLI."""
    app.command("profile")(profile_cmd)
    app.add_typer(targets_app, name="targets")


def standalone(argv: list[str] | None = None) -> int:
    """Run these commands on their own, turning ``EdgekdError`` into message + exit code."""
    app = typer.Typer(no_args_is_help=True)
    register(app)
    try:
        app(args=argv, standalone_mode=False)
    except EdgekdError as exc:
        typer.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(standalone())
