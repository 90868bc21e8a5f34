"""The examples in examples/ run as written, and what they print is true."""

import re
import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
def test_python_api_example(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["python_api.py", "--out", str(tmp_path)])
    module = runpy.run_path(str(EXAMPLES / "python_api.py"))
    accuracy = module["main"](tmp_path)
    out = capsys.readouterr().out
    assert accuracy["teacher"] > 0.95 and accuracy["student-onnx"] > 0.8
    assert (tmp_path / "student.onnx").is_file()
    # the distilled-vs-baseline line states the run's own numbers, and says so when KD lost
    line = next(x for x in out.splitlines() if x.startswith("teacher "))
    distilled, baseline = (float(v) for v in re.findall(r"([\d.]+)%", line)[1:3])
    assert abs(distilled - 100 * accuracy["student"]) < 0.01
    assert abs(baseline - 100 * accuracy["baseline"]) < 0.01
    gain = float(re.search(r"distillation ([+-][\d.]+) points", line).group(1))
    assert abs(gain - (distilled - baseline)) < 0.02
    assert ("did not beat hard labels" in line) == (gain < 0)


def test_compare_says_when_distillation_lost():
    compare = runpy.run_path(str(EXAMPLES / "python_api.py"))["compare"]
    rows = {"teacher": {"accuracy": 0.99}, "distilled": {"accuracy": 0.90}}
    rows["baseline"] = {"accuracy": 0.95}
    lost = compare({"rows": rows, "distillation_gain_pp": -5.0})
    assert "distillation -5.00 points" in lost and "did not beat hard labels" in lost
    rows["distilled"] = {"accuracy": 0.97}
    won = compare({"rows": rows, "distillation_gain_pp": 2.0})
    assert "+2.00 points" in won and "did not beat" not in won


def test_lm_recipe_example_runs_with_a_local_teacher(lm_teacher, lm_dataset, tmp_path):
    """examples/lm_smollm2.yaml as written, with the tiny Llama and its answers standing in
    for SmolLM2 and its dataset (the README runs it with the real ones)."""
    from tests.conftest import run_cli

    sets = {
        "teacher.model": f"hf:{lm_teacher}",
        "data.path": str(lm_dataset),
        "student.init_from_teacher.layers": "[0,3]",
        "distill.lm.steps": "2",
        "distill.lm.max_length": "48",
        "evaluate.lm.split": "val",
        "output.dir": str(tmp_path),
    }
    args = [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]
    code, out = run_cli(["compress", str(EXAMPLES / "lm_smollm2.yaml"), "--quiet", *args])
    assert code == 0, out
    assert "Language model vs its teacher (held-out val split)" in out
    assert "warning" not in out  # nothing of the recipe is silently skipped
    (run,) = tmp_path.iterdir()
    assert (run / "student" / "vocab_map.json").is_file()
