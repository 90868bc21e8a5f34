"""The terminal summary ``edgekd compress`` prints: artifacts, verdicts, stage timings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekd.report.build import written


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.2f}%"


def print_summary(run_dir: Path, report: dict[str, Any], manifest: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # logs and pipes: don't squeeze tables to 80 columns
    arts = Table(title="Artifacts (evaluated on the test split by their own runtime)")
    for col in (
        "artifact",
        "format",
        "runtime",
        "params",
        "file bytes",
        "MACs",
        "accuracy",
        "macro-F1",
        "agreement",
        "parity",
    ):
        arts.add_column(
            col, justify="right" if col not in ("artifact", "format", "runtime") else "left"
        )
    for a in report["artifacts"]:
        m = a.get("metrics") or {}
        parity = (a.get("parity") or {}).get("status", "–")
        arts.add_row(
            a["id"],
            a["format"],
            a.get("runtime") or "–",
            str(a.get("params") or "–"),
            str(a.get("file_bytes") or "–"),
            str(a.get("macs") or "–"),
            _pct(m.get("accuracy")),
            "–" if m.get("macro_f1") is None else f"{m['macro_f1']:.4f}",
            _pct(m.get("agreement")),
            parity,
        )
    console.print(arts)
    targets = [(p["artifact"], t) for p in report.get("profiles", []) for t in p.get("targets", [])]
    if targets:
        verdicts = Table(title="Device verdicts (simulated)")
        for col in (
            "artifact",
            "target",
            "runtime",
            "latency ms",
            "band",
            "RAM",
            "flash",
            "verdict",
        ):
            verdicts.add_column(col)
        for art_id, t in targets:
            pr = t.get("predicted") or {}
            color = {"pass": "green", "fail": "red"}.get(t["verdict"], "yellow")
            verdicts.add_row(
                art_id,
                t["name"],
                t["runtime"],
                f"{pr.get('latency_ms', 0):.3g}",
                f"{pr.get('latency_ms_low', 0):.3g}–{pr.get('latency_ms_high', 0):.3g}",
                str(pr.get("peak_ram_bytes")),
                str(pr.get("flash_bytes")),
                f"[{color}]{t['verdict']}[/]",
            )
        console.print(verdicts)
    timings = ", ".join(
        f"{k} {v:.1f}s" for k, v in (report.get("stages") or {}).items() if v is not None
    )
    console.print(f"stage timings: {timings}")
    # plain lines (never wrapped) so scripts can read them
    print(f"run directory: {run_dir}")
    for path in written(run_dir):
        if path.suffix != ".json":
            print(f"report: {path}")
