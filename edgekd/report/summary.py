"""The terminal summary ``edgekd compress`` prints: artifacts, verdicts, stage timings.

Every size has a unit (binary KiB/MiB, as microcontroller datasheets count memory), every
time ms or s, and each table fits the terminal (80 columns and up) without wrapping a cell:
``report.term.fit_table`` drops the least important columns on narrow terminals and says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekd.report import fmt
from edgekd.report.build import written
from edgekd.report.term import Col, console, print_table, wrap_items

ARTIFACT_COLS = [
    Col("artifact"),
    Col("format", priority=3),
    Col("runtime", priority=2),
    Col("params", right=True),
    Col("size", right=True),
    Col("MACs", right=True, priority=1),
    Col("accuracy", right=True),
    Col("macro-F1", right=True, priority=4),
    Col("agreement", right=True, priority=1),
    Col("parity"),
]
LM_COLS = [
    Col("artifact"),
    Col("params", right=True),
    Col("size", right=True),
    Col("KL(teacher||student)", right=True),
    Col("top-1 agreement", right=True),
    Col("ppl", right=True, priority=2),
    Col("ROUGE-L", right=True),
    Col("same token as student", right=True, priority=1),
    Col("parity", priority=2),
]
VERDICT_COLS = [
    Col("artifact"),
    Col("target"),
    Col("runtime", priority=2),
    Col("latency", right=True),
    Col("band", right=True, priority=3),
    Col("peak RAM", right=True, priority=1),
    Col("flash", right=True, priority=1),
    Col("verdict"),
]


def _params(v: int | None) -> str:
    return fmt.DASH if v is None else f"{v:,}"


def artifact_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for a in report["artifacts"]:
        m = a.get("metrics") or {}
        rows.append(
            [
                a["id"],
                " ".join(x for x in (a.get("format"), a.get("precision")) if x),
                a.get("runtime") or fmt.DASH,
                _params(a.get("params")),
                fmt.nbytes(a.get("file_bytes")),
                fmt.count(a.get("macs")),
                fmt.pct(m.get("accuracy")),
                fmt.sig(m.get("macro_f1"), 4) if m.get("macro_f1") is not None else fmt.DASH,
                fmt.pct(m.get("agreement")),
                (a.get("parity") or {}).get("status", fmt.DASH),
            ]
        )
    return rows


def lm_rows(report: dict[str, Any]) -> list[list[str]]:
    """Language-model artifacts (``task: causal_lm``): their scores against the teacher."""
    rows = []
    for a in report["artifacts"]:
        m = a.get("metrics") or {}
        if "nll" not in m:
            continue
        rows.append(
            [
                a["id"],
                _params(a.get("params")),
                fmt.nbytes(a.get("file_bytes")),
                fmt.sig(m["kl"], 4) if m.get("kl") is not None else fmt.DASH,
                fmt.pct(m.get("top1")),
                fmt.sig(m["ppl"], 4) if m.get("ppl") is not None else fmt.DASH,
                fmt.sig(m["rouge_l"], 3) if m.get("rouge_l") is not None else fmt.DASH,
                fmt.pct(m.get("agreement")),
                (a.get("parity") or {}).get("status", fmt.DASH),
            ]
        )
    return rows


def verdict_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    colors = {"pass": "green", "fail": "red"}
    for p in report.get("profiles", []):
        for t in p.get("targets", []):
            pr = t.get("predicted") or {}
            lo, hi = pr.get("latency_ms_low"), pr.get("latency_ms_high")
            band = fmt.DASH if lo is None or hi is None else f"{fmt.sig(lo)}–{fmt.ms(hi)}"
            speed = fmt.ms(pr.get("latency_ms"))
            if pr.get("tokens_per_s") is not None:  # a language model: decode tokens/s
                speed = f"{fmt.sig(pr['tokens_per_s'])} tok/s"
                band = f"{fmt.sig(pr['tokens_per_s_low'])}–{fmt.sig(pr['tokens_per_s_high'])}"
            rows.append(
                [
                    p["artifact"],
                    t["name"],
                    t.get("runtime") or fmt.DASH,
                    speed,
                    band,
                    fmt.nbytes(pr.get("peak_ram_bytes")),
                    fmt.nbytes(pr.get("flash_bytes")),
                    f"[{colors.get(t['verdict'], 'yellow')}]{t['verdict']}[/]",
                ]
            )
    return rows


def timing_lines(report: dict[str, Any], width: int) -> list[str]:
    """``stage timings: teacher 3.2 s, distill 10.1 s, ...`` wrapped between stages."""
    stages = {k: v for k, v in (report.get("stages") or {}).items() if v is not None}
    items = [f"{k} {fmt.duration(v)}" for k, v in stages.items()]
    if stages:
        items.append(f"total {fmt.duration(sum(stages.values()))}")
    return wrap_items("stage timings:", items, width)


def ship_lines(report: dict[str, Any]) -> list[str]:
    """The report's top section as plain lines: what to ship per target, then every
    compression step that made an artifact larger or slower than its reference."""
    from edgekd.report.ship import sentence

    lines = [
        sentence(name, pick).replace("**", "").replace("`", "")
        for name, pick in (report.get("chosen") or {}).items()
    ]
    lines += [
        f"regression: {g['message']}"
        for s in report.get("compression") or []
        for g in s["regressions"]
    ]
    return lines


def print_ship(con: Any, report: dict[str, Any]) -> None:
    from rich.markup import escape

    lines = ship_lines(report)
    if lines:
        con.print()
        con.print("[bold]What to ship[/]")
    for line in lines:
        color = "yellow" if line.startswith("regression") else "default"
        con.print(f"[{color}]{escape(line)}[/]", highlight=False)


def print_summary(
    run_dir: Path, report: dict[str, Any], manifest: dict[str, Any], con: Any = None
) -> None:
    """Print the tables on ``con`` (default: the terminal) and the paths as plain lines."""
    con = con or console()
    lm = lm_rows(report)
    if lm:
        split = ((manifest.get("recipe") or {}).get("evaluate") or {}).get("lm", {}).get("split")
        title = f"Language model vs its teacher (held-out {split or 'test'} split)"
        print_table(con, title, LM_COLS, lm)
    else:
        print_table(
            con,
            "Artifacts (evaluated on the test split by their own runtime)",
            ARTIFACT_COLS,
            artifact_rows(report),
        )
    rows = verdict_rows(report)
    if rows:
        print_table(con, "Device verdicts (simulated)", VERDICT_COLS, rows)
    print_ship(con, report)
    for line in timing_lines(report, con.width):
        con.print(line, highlight=False, soft_wrap=True)
    for w in report.get("warnings") or []:
        con.print(f"[yellow]warning ({w['stage']}, {w['artifact']}): {w['message']}[/]")
    # plain lines (never wrapped) so scripts can read them
    print(f"run directory: {run_dir}")
    for path in written(run_dir):
        if path.suffix != ".json":
            print(f"report: {path}")
