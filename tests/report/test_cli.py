"""``edgekd report`` and ``edgekd compare`` through the real entry point, bad inputs included."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgekd.rundir import MANIFEST_SCHEMA
from tests.report.conftest import first_profile


def test_compress_ends_with_report_paths(compressed):
    run, stdout = compressed
    assert stdout.rstrip().splitlines()[-2:] == [
        f"report: {run / 'report.md'}",
        f"report: {run / 'report.html'}",
    ]


@pytest.fixture
def run_copy(run_dir: Path, tmp_path: Path) -> Path:
    """A copy of the shared run that a test may edit."""
    return Path(shutil.copytree(run_dir, tmp_path / run_dir.name))


def _edit_manifest(run: Path, edit) -> None:
    path = run / "manifest.json"
    m = json.loads(path.read_text())
    edit(m)
    path.write_text(json.dumps(m))


def test_report_regenerates_from_manifest_without_rerun(cli, run_copy: Path):
    before = {p.name: p.stat().st_mtime_ns for p in run_copy.iterdir() if p.is_file()}
    original = {f: (run_copy / f).read_text() for f in ("report.json", "report.md")}
    for f in ("report.json", "report.md", "report.html"):
        (run_copy / f).unlink()
    r = cli("report", str(run_copy))
    assert r.exit_code == 0, r.stderr
    assert r.stdout.split() == [
        str(run_copy / f) for f in ("report.json", "report.md", "report.html")
    ]
    for f, text in original.items():
        assert (run_copy / f).read_text() == text  # same manifest, same report
    after = {p.name: p.stat().st_mtime_ns for p in run_copy.iterdir() if p.is_file()}
    untouched = set(before) - {"report.json", "report.md", "report.html"}
    assert {k: after[k] for k in untouched} == {k: before[k] for k in untouched}


@pytest.mark.parametrize("fmt", ["md", "html", "json"])
def test_report_single_format(cli, run_copy: Path, fmt: str):
    for f in ("report.json", "report.md", "report.html"):
        (run_copy / f).unlink()
    r = cli("report", str(run_copy), "--format", fmt)
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in run_copy.glob("report.*")) == [f"report.{fmt}"]


def test_report_unknown_format(cli, run_dir: Path):
    r = cli("report", str(run_dir), "--format", "pdf")
    assert r.exit_code == 2 and "--format 'pdf': expected one of json, md, html" in r.stderr


def test_report_missing_manifest(cli, tmp_path: Path):
    r = cli("report", str(tmp_path))
    assert r.exit_code == 2
    assert f"{tmp_path}: not a run directory (no manifest.json)" in r.stderr
    assert "Traceback" not in r.stderr


def test_report_corrupt_manifest(cli, run_copy: Path):
    (run_copy / "manifest.json").write_text('{"schema": 1, "artifacts": [')
    r = cli("report", str(run_copy))
    assert r.exit_code == 2
    assert f"{run_copy / 'manifest.json'}: corrupt manifest" in r.stderr


def test_report_newer_manifest_schema(cli, run_copy: Path):
    _edit_manifest(run_copy, lambda m: m.update(schema=MANIFEST_SCHEMA + 1))
    r = cli("report", str(run_copy))
    assert r.exit_code == 2
    assert f"manifest schema {MANIFEST_SCHEMA + 1} is newer than this edgekd" in r.stderr
    assert "upgrade edgekd" in r.stderr


def test_compare_shows_deltas(cli, run_dir: Path, run_copy: Path):
    def slower_and_retrained(m):
        m["recipe"]["distill"]["epochs"] = 7
        for t in first_profile(m)["targets"]:
            t["predicted"]["latency_ms"] *= 1.5
        art = next(a for a in m["artifacts"] if a["id"] == "student-onnx")
        art["metrics"]["accuracy"] += 0.02

    _edit_manifest(run_copy, slower_and_retrained)
    r = cli("compare", str(run_dir), str(run_copy))
    assert r.exit_code == 0, r.stderr
    assert "| distill.epochs | 3 | 7 |" in r.stdout
    assert "| student-onnx | pixel-4 | pass → pass |" in r.stdout
    assert "+50.0%" in r.stdout and "+2.00 pp" in r.stdout
    j = cli("compare", str(run_dir), str(run_copy), "--json")
    c = json.loads(j.stdout)
    assert c["common_targets"] == ["pixel-4", "rpi-4", "nucleo-l4r5zi"]
    onnx = next(x for x in c["artifacts"] if x["artifact"] == "student-onnx")
    assert onnx["delta_accuracy_pp"] == 2.0
    assert {x["delta_latency_ms_pct"] for x in c["targets"]} == {50.0}


def test_compare_no_target_in_common(cli, run_dir: Path, run_copy: Path):
    def other_targets(m):
        for t in first_profile(m)["targets"]:
            t["name"] = "other-" + t["name"]

    _edit_manifest(run_copy, other_targets)
    r = cli("compare", str(run_dir), str(run_copy))
    assert r.exit_code == 2
    assert "have no target in common" in r.stderr
    assert "A profiled: pixel-4, rpi-4, nucleo-l4r5zi" in r.stderr
    assert "B profiled: other-pixel-4" in r.stderr


def test_compare_missing_run(cli, run_dir: Path, tmp_path: Path):
    r = cli("compare", str(run_dir), str(tmp_path / "nope"))
    assert r.exit_code == 2 and "not a run directory" in r.stderr
