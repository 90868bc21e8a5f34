"""The examples in examples/ run as written."""

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
def test_python_api_example(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["python_api.py", "--out", str(tmp_path)])
    module = runpy.run_path(str(EXAMPLES / "python_api.py"))
    accuracy = module["main"](tmp_path)
    assert accuracy["teacher"] > 0.9 and accuracy["student-onnx"] > 0.5
    assert (tmp_path / "student.onnx").is_file()
