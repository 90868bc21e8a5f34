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

from edgekd.errors import EdgekdError, UsageError
from edgekd.report import fmt
from edgekd.report.term import Col, console, print_table, wrap_items

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
    runtime: str | None = typer.Option(
        None, help="A runtime of targets/runtimes.yaml (default: each target's own)"
    ),
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
    context: int | None = typer.Option(
        None, "--context", help="LM export: KV-cache context length (tokens)"
    ),
    prompt_tokens: int | None = typer.Option(
        None, "--prompt-tokens", help="LM export: prompt length for time to first token"
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
        context=context,
        prompt_tokens=prompt_tokens,
    )
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    elif report["model"].get("lm"):
        from edgekd.profile.lm_profile import print_lm_report

        print_lm_report(report)
    else:
        print_report(report)
    if fail_on_budget:
        from edgekd.profile.budgets import check_budgets

        check_budgets([report])


TARGET_COLS = [
    Col("target"),
    Col("runtime", priority=2),
    Col("latency", right=True),
    Col("band", right=True, priority=3),
    Col("peak RAM", right=True, priority=1),
    Col("flash", right=True, priority=1),
    Col("energy", right=True, priority=2),
    Col("verdict"),
]
TARGET_LIST_COLS = [
    Col("id"),
    Col("kind"),
    Col("name", priority=2),
    Col("cores", priority=3),
    Col("RAM", right=True),
    Col("flash", right=True),
    Col("default runtime", priority=1),
]


def _cores(cores: list[Any]) -> str:
    """'4x cortex-a72 @1500 MHz'; big.LITTLE: '8 cores (1+3+4), up to 2840 MHz'."""
    if len(cores) == 1:
        c = cores[0]
        return f"{c.count}x {c.uarch} @{c.freq_mhz:g} MHz"
    total = sum(c.count for c in cores)
    split = "+".join(str(c.count) for c in cores)
    return f"{total} cores ({split}), up to {max(c.freq_mhz for c in cores):g} MHz"


def _target_row(t: dict[str, Any]) -> list[str]:
    p = t["predicted"]
    band = fmt.DASH
    if p["latency_ms"] is not None and p.get("latency_ms_low") is not None:
        band = f"{fmt.sig(p['latency_ms_low'])}–{fmt.ms(p['latency_ms_high'])}"
    colors = {"pass": "green", "fail": "red", "unsupported": "yellow"}
    return [
        t["name"],
        t["runtime"],
        fmt.ms(p["latency_ms"]),
        band,
        fmt.nbytes(p["peak_ram_bytes"]),
        fmt.nbytes(p["flash_bytes"]),
        fmt.mj(p["energy_mj"]),
        f"[{colors[t['verdict']]}]{t['verdict']}[/]",
    ]


def print_report(report: dict[str, Any], con: Any = None) -> None:
    """The human-readable profile: model line, host line, a target table that fits ``con``."""
    con = con or console()
    m = report["model"]
    con.print(f"[bold]{m['path']}[/] {m['format']} {m['precision']}", soft_wrap=True)
    facts = [
        f"{m['params']:,} params",
        f"{m['macs'] / 1e6:.2f} M MACs",
        f"weights {fmt.nbytes_exact(m['weight_bytes'])}",
        f"peak activations {fmt.nbytes_exact(m['peak_activation_bytes'])}",
    ]
    lines = wrap_items("", facts, con.width)  # wrapped between facts, never inside one
    from edgekd.profile.shapes import format_shapes

    lines.append(f"input shapes: {format_shapes(m.get('input_shapes') or {})}")
    host = report["host"]
    if host and host["latency_ms"]["p50"] is not None:
        lat = host["latency_ms"]
        label = f"host ({host.get('runtime', '')}, {host['threads']} threads):"
        items = [f"{k} {fmt.ms(lat[k])}" for k in ("p50", "p90", "p99")]
        lines += wrap_items(label, [*items, f"peak RSS {fmt.nbytes(host['peak_rss_bytes'])}"],
                            con.width)  # fmt: skip
    elif host:
        lines.append(f"host measurement failed: {host.get('error')}")
    for line in lines:
        con.print(line.rstrip(), highlight=False, soft_wrap=True, markup=False)
    for note in m.get("shape_notes") or []:
        con.print(f"note: {note}", highlight=False, markup=False)  # word-wrapped
    rows, reasons = [], []
    for t in report["targets"]:
        rows.append(_target_row(t))
        why = [v["message"] for v in t["violations"]] + t.get("unsupported", [])
        reasons += [f"{t['name']}: {w}" for w in why]
    print_table(con, "simulated targets", TARGET_COLS, rows)
    for line in reasons:
        con.print(line, highlight=False)  # word-wrapped at the terminal's width


@targets_app.command("list")
def targets_list(as_json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """List the shipped device targets."""
    from edgekd.profile.targets import list_targets

    targets = list_targets()
    if as_json:
        typer.echo(json.dumps([t.model_dump() for t in targets], indent=2))
        return
    rows = [
        [
            t.id,
            t.kind,
            t.name,
            _cores(t.cores),
            fmt.nbytes(t.memory.ram_bytes),
            fmt.nbytes(t.memory.flash_bytes),
            t.runtimes.default,
        ]
        for t in targets
    ]
    print_table(console(), "device targets", TARGET_LIST_COLS, rows)


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
