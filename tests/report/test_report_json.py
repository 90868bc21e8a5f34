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
    assert r["chosen"]["nucleo-l4r5zi"] == {
        "artifact": "student-onnx",
        "reason": "most accurate that passes",
    }
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
