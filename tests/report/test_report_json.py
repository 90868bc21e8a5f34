"""report.json: the DESIGN.md keys, versioned, plus the derived numbers the reports show."""

from __future__ import annotations

import json
from pathlib import Path

from edgekd.report.build import REPORT_SCHEMA, build_report

DESIGN_ARTIFACT_KEYS = {"id", "role", "stage", "format", "precision", "path", "sha256"}
DESIGN_ARTIFACT_KEYS |= {"params", "file_bytes", "macs", "metrics", "parity"}


def test_report_json_keys(run_dir: Path):
    r = json.loads((run_dir / "report.json").read_text())
    assert r["schema"] == REPORT_SCHEMA
    assert r["recipe"]["report"]["formats"] == ["json", "md", "html"]
    for a in r["artifacts"]:
        assert DESIGN_ARTIFACT_KEYS <= set(a)
    (p,) = r["profiles"]
    assert p["artifact"] == "student-onnx" and {"host", "targets", "model"} <= set(p)
    for t in p["targets"]:
        assert {"name", "runtime", "predicted", "budget", "verdict", "violations"} <= set(t)
    assert set(r["training"]) == {"distilled", "baseline"}
    assert len(r["training"]["distilled"]["val_accuracy"]) == 3  # FAST: distill.epochs=3
    assert r["comparison"]["rows"]["distilled"]["artifact"] == "student"


def test_derived_sections_on_a_grown_artifact_graph(grown_manifest):
    r = build_report(grown_manifest)
    assert r["pareto_front"]["pixel-4"] == ["student-int8", "student-onnx"]
    assert r["pareto_front"]["rpi-4"] == ["student-onnx"]  # int8 does not run there
    pick = r["chosen"]["nucleo-l4r5zi"]
    assert pick["artifact"] == "student-onnx" and pick["fits"]
    assert pick["reason"] == "most accurate that passes every budget"
    lin = {x["id"]: x for x in r["lineage"]}
    assert lin["student-int8"]["depth"] == 3 and lin["student-int8"]["parent"] == "student-onnx"
    assert lin["student-int8"]["delta_latency_pct"]["pixel-4"] == -50.0
    kinds = sorted((v["target"], v["kind"]) for v in r["violations"])
    assert kinds == [("nucleo-l4r5zi", "budget"), ("rpi-4", "unsupported")]
    use = r["budget_use"]["pixel-4"]
    assert use["artifact"] == "student-onnx" and 0 < use["use_pct"]["latency_ms"] < 100


def test_no_profiles_no_crash(grown_manifest):
    arts = [{**a, "extra": {k: v for k, v in a["extra"].items() if k != "profile"}}
            for a in grown_manifest["artifacts"]]  # fmt: skip
    r = build_report({**grown_manifest, "artifacts": arts})
    assert r["targets"] == [] and r["verdicts"] == [] and r["chosen"] == {}


def test_stage_warnings_reach_every_report(grown_manifest, tmp_path):
    """A prune step that cost more than prune.max_accuracy_drop is recorded on its artifact;
    report.json lists it and the Markdown, HTML and terminal summary show it."""
    import copy
    import io

    from rich.console import Console

    from edgekd.report.build import build_report, render
    from edgekd.report.summary import print_summary

    m = copy.deepcopy(grown_manifest)
    msg = "pruning lost 4.44 points of val accuracy (98.52% -> 94.07%), more than 1"
    art = next(a for a in m["artifacts"] if a["id"] == "student-onnx")
    art.setdefault("extra", {})["prune"] = {"accuracy_drop_pp": 4.44, "warning": msg}
    report = build_report(m)
    assert report["warnings"] == [{"artifact": "student-onnx", "stage": "prune", "message": msg}]
    from html import escape

    assert msg in render(report, "md") and escape(msg) in render(report, "html")
    con = Console(width=120, record=True, file=io.StringIO())
    print_summary(tmp_path, report, m, con=con)
    assert "warning (prune, student-onnx): pruning lost 4.44 points" in con.export_text()
    assert build_report(grown_manifest)["warnings"] == []
