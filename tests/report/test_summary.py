"""The terminal summary and tables: units on every size and time, and no line wider than the
terminal at 80 and 120 columns (rendered with rich's recording console)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from edgekd.report.build import build_report
from edgekd.report.fmt import duration, nbytes, nbytes_exact
from edgekd.report.summary import print_summary
from edgekd.report.term import Col, fit_table, wrap_items

SIZE = re.compile(r"^\d[\d.,]* (B|KiB|MiB|GiB)$")
TIME = re.compile(r"^\d[\d.,]* (ms|s)$")


def render(width: int, fn, *args) -> list[str]:
    con = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    fn(*args, con=con)
    return con.export_text().splitlines()


def test_byte_and_time_units():
    assert nbytes(7176) == "7.01 KiB" and nbytes(262144) == "256 KiB" and nbytes(900) == "900 B"
    assert nbytes(1 << 20) == "1 MiB"
    assert nbytes_exact(22037) == "21.5 KiB (22,037 B)" and nbytes_exact(12) == "12 B"
    assert duration(0.85) == "850 ms" and duration(3.21) == "3.2 s"
    assert duration(125) == "2 min 05 s"


def test_fit_table_drops_low_priority_columns_and_says_which():
    con = Console(width=40, record=True, file=io.StringIO())
    cols = [Col("name"), Col("wide", priority=2), Col("mid", priority=1), Col("n", right=True)]
    rows = [["alpha", "x" * 30, "y" * 8, "1"]]
    table, hidden = fit_table(con, "t", cols, rows)
    assert hidden == ["wide"]
    con.print(table)
    assert max(len(line) for line in con.export_text().splitlines()) <= 40


def test_wrap_items_breaks_between_items_only():
    items = [f"stage{i} {i}.5 s" for i in range(12)]
    lines = wrap_items("stage timings:", items, 40)
    assert all(len(line) <= 40 for line in lines) and len(lines) > 1
    joined = " ".join(line.strip() for line in lines)
    assert all(item in joined for item in items)
    assert lines[0].startswith("stage timings: stage0 0.5 s,")


@pytest.mark.parametrize("width", [80, 120])
def test_compress_summary_fits_and_has_units(run_dir: Path, width: int, capsys):
    import json

    manifest = json.loads((run_dir / "manifest.json").read_text())
    report = build_report(manifest)
    lines = render(width, print_summary, run_dir, report, manifest)
    assert lines and max(len(line) for line in lines) <= width
    text = "\n".join(lines)
    # sizes with binary units, latencies in ms, stage times in ms or s
    assert re.search(r"\d (KiB|B)\b", text)
    assert re.search(r"\d ms\b", text)
    timing = " ".join(
        line
        for line in lines[[i for i, x in enumerate(lines) if x.startswith("stage timings:")][0] :]
    )
    stages = re.findall(r"(\w+) (\d[\d.]*) (ms|s)\b", timing)
    assert {s for s, *_ in stages} >= {"distill", "total"}
    # every artifact row is on one line: its id and accuracy side by side
    for a in report["artifacts"]:
        row = next(line for line in lines if line.strip().startswith(a["id"] + " "))
        assert "%" in row
    assert "run directory:" in capsys.readouterr().out


@pytest.mark.parametrize("width", [80, 120])
def test_summary_of_grown_graph_fits(grown_manifest, tmp_path: Path, width: int):
    """More artifacts, a failing and an unsupported verdict: still one line per row."""
    report = build_report(grown_manifest)
    lines = render(width, print_summary, tmp_path, report, grown_manifest)
    assert max(len(line) for line in lines) <= width
    start = next(i for i, line in enumerate(lines) if line.startswith("Device verdicts"))
    verdict_rows = [
        line for line in lines[start:] if re.search(r"\b(pass|fail|unsupported)\s*$", line)
    ]
    n = sum(len(p["targets"]) for p in report["profiles"])
    assert len(verdict_rows) == n
    for line in verdict_rows:
        sizes = re.findall(r"\d[\d.]* (?:B|KiB|MiB)\b", line)
        assert len(sizes) == 2 or width == 80 and len(sizes) in (0, 2)
        assert re.search(r"\d ms\b", line)
