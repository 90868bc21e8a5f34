"""report.md: every table is a valid GitHub-flavoured Markdown table, and says the right things."""

from __future__ import annotations

import re
from pathlib import Path

from edgekd.report.build import build_report
from edgekd.report.markdown import render_markdown

SEPARATOR = re.compile(r"^\|( *:?-{3,}:? *\|)+$")


def split_row(line: str) -> list[str]:
    """Cells of a GFM table row: split on pipes that are not escaped."""
    assert line.startswith("|") and line.endswith("|"), line
    return [c.strip() for c in re.split(r"(?<!\\)\|", line[1:-1])]


def tables(md: str) -> list[list[list[str]]]:
    """Every table (runs of lines starting with '|'), checked as GFM: a header, a separator
    row of the same width, and body rows of that width."""
    out, block = [], []
    for line in [*md.splitlines(), ""]:
        if line.startswith("|"):
            block.append(line)
            continue
        if block:
            assert len(block) >= 2, f"table without separator row: {block}"
            assert SEPARATOR.match(block[1]), f"bad separator row: {block[1]}"
            width = len(split_row(block[0]))
            rows = [split_row(b) for b in block]
            for row, raw in zip(rows, block, strict=True):
                assert len(row) == width, f"{len(row)} cells, header has {width}: {raw}"
            out.append([rows[0], *rows[2:]])
            block = []
    return out


def test_tables_parse_in_the_real_report(run_dir: Path):
    md = (run_dir / "report.md").read_text()
    found = tables(md)
    headers = [t[0][0] for t in found]
    assert headers[:3] == ["artifact", "model", "artifact"]  # verdicts, comparison, lineage
    verdicts = found[0]
    assert verdicts[0][1:] == [
        "pixel-4 (litert)",
        "rpi-4 (litert)",
        "nucleo-l4r5zi (tflm-cmsis-nn)",
    ]
    assert verdicts[1][0] == "student-onnx" and all("pass" in c for c in verdicts[1][1:])
    assert "distillation gain over the baseline" in md


def test_grown_run_lineage_violations_and_marks(grown_manifest):
    md = render_markdown(build_report(grown_manifest))
    found = {"/".join(t[0][:3]): t for t in tables(md)}
    verdicts = found["artifact/pixel-4 (litert)/rpi-4 (litert)"]
    int8 = next(r for r in verdicts if r[0] == "student-int8")
    assert int8[1].startswith("✅ pass") and int8[2].startswith("⚠️ unsupported")
    assert int8[3] == "❌ fail (latency 100.0% over)"
    lineage = [r[0] for r in found["artifact/parent/stage"][1:]]
    assert [x.replace("\u00a0", "") for x in lineage] == [
        "teacher",
        "↳ student",
        "↳ student-onnx",
        "↳ student-int8",
        "baseline",
    ]
    int8_row = found["artifact/parent/stage"][4]
    assert int8_row[4].endswith("(−1.00 pp)") and "(−66.7%)" in int8_row[5]
    assert int8_row[6].endswith("(−50.0%)")  # pixel-4 latency halved
    violations = found["artifact/target/budget"]
    by_target = {r[1]: r for r in violations[1:]}
    assert by_target["nucleo-l4r5zi"][2] == "latency"
    assert "block1/conv/Conv (Conv)" in by_target["nucleo-l4r5zi"][5]  # slowest op named
    assert "DynamicQuantizeLinear" in by_target["rpi-4"][5]


def test_pipes_in_names_are_escaped(grown_manifest):
    m = {**grown_manifest, "artifacts": [dict(a) for a in grown_manifest["artifacts"]]}
    m["artifacts"][0]["id"] = "teach|er"
    tables(render_markdown(build_report(m)))  # every row still has the header's width
