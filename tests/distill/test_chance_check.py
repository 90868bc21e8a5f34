"""A distilled student that did not learn is said in the output and the report, not hidden
behind exit 0 (a collapse is a wrong answer users would otherwise ship)."""

from __future__ import annotations

import json

from edgekd.distill.stage import chance_check
from edgekd.report.build import warnings
from edgekd.train.loop import History
from tests.conftest import FAST


def _history(best: float) -> History:
    return History(train_loss=[1.0], val_accuracy=[best], best_val_accuracy=best)


def test_chance_level_warns_and_a_learned_student_does_not():
    assert "chance level" in chance_check(_history(0.1028), 10)["warning"]
    assert "warning" not in chance_check(_history(0.40), 10)
    assert "warning" not in chance_check(_history(0.75), 2)
    assert chance_check(History(), 10) is None  # no val accuracy (unlabelled data)
    assert chance_check(None, 10) is None


def test_the_warning_reaches_the_report():
    art = {"id": "student", "extra": {"learned": chance_check(_history(0.1), 10)}}
    (w,) = warnings([art])
    assert w["artifact"] == "student" and w["stage"] == "learned"
    assert "did not learn" in w["message"]


def test_a_student_that_cannot_learn_is_warned_about_in_the_run(cli, tmp_path):
    r = cli(
        "compress", *FAST, "--set", "distill.lr=1e-12", "--set", "distill.baseline=false",
        "--set", "prune.method=none", "--set", "quantize.method=none",
        "--set", "export.formats=[onnx]", "--out", str(tmp_path),
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert "chance level" in r.stdout + r.stderr
    (report,) = tmp_path.glob("*/report.json")
    messages = [w["message"] for w in json.loads(report.read_text())["warnings"]]
    assert any("chance level" in m for m in messages), messages
