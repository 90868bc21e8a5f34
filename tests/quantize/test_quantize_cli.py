from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from tests.conftest import run_cli as invoke


def test_register_does_not_import_heavy_backends():
    code = (
        "import sys, typer; from edgekd.quantize.cli import register; register(typer.Typer()); "
        "print(any(m in sys.modules for m in ('torch', 'onnx', 'onnxruntime')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _guard_files(digits, tmp_path):
    calib, val = tmp_path / "calib.npz", tmp_path / "val.npz"
    np.savez(calib, x=digits.calib.x)
    np.savez(val, x=digits.val.x, y=digits.val.y)
    return ["--calib", str(calib), "--val", str(val)]


def test_quantize_cli_static_with_guard(float_onnx, digits, tmp_path):
    """The guard meets its bar or fails cleanly, and records every attempt either way."""
    out, report = tmp_path / "q.onnx", tmp_path / "r.json"
    args = ["quantize", str(float_onnx), *_guard_files(digits, tmp_path)]
    code, output = invoke([*args, "--out", str(out), "--report", str(report)])
    assert code in (0, 1) and "Traceback" not in output, output
    assert out.is_file()  # the chosen attempt, or the best one when none met the bar
    if code == 1:
        assert "quantization breaks the model" in output and "--allow-degraded" in output
        return
    r = json.loads(report.read_text())
    assert r["met_bar"] and r["float_val_accuracy"] - r["quant_val_accuracy"] <= 1.0
    assert r["attempts"] and r["attempts"][-1]["meets_bar"]
    assert not any(a["meets_bar"] for a in r["attempts"][:-1])  # it stopped at the first
    assert r["int8_nodes"] >= 1 and r["int8_nodes"] + r["float_nodes"] == 3
    assert f"compute nodes: {r['int8_nodes']} int8, {r['float_nodes']} float" in output
    assert f"{len(r['attempts'])} attempt(s), chosen:" in output


def test_quantize_cli_guard_with_a_bar_any_model_meets(float_onnx, digits, tmp_path):
    args = ["quantize", str(float_onnx), *_guard_files(digits, tmp_path), "--max-drop", "100"]
    code, output = invoke([*args, "--out", str(tmp_path / "q.onnx")])
    assert code == 0, output
    assert "compute nodes: 3 int8, 0 float" in output and "1 attempt(s)" in output


def test_quantize_cli_fp16_and_per_channel_flags(float_onnx, digits, tmp_path):
    code, output = invoke(
        ["quantize", str(float_onnx), "--method", "fp16", "--out", str(tmp_path / "h.onnx")]
    )
    assert code == 0, output
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=digits.calib.x)
    args = ["quantize", str(float_onnx), "--calib", str(calib), "--per-channel"]
    code, output = invoke([*args, "--calibration", "entropy", "--out", str(tmp_path / "e.onnx")])
    assert code == 0, output


def test_quantize_cli_bad_inputs_exit_2(float_onnx, digits, tmp_path):
    small, good = tmp_path / "small.npz", tmp_path / "good.npz"
    np.savez(small, x=digits.calib.x[:5])
    np.savez(good, x=digits.calib.x)
    base = ["quantize", str(float_onnx), "--out", str(tmp_path / "q.onnx")]
    code, msg = invoke([*base, "--calib", str(small)])
    assert code == 2 and "5 samples but 128" in msg
    code, msg = invoke([*base, "--calib", str(good), "--exclude", "no_such_node"])
    assert code == 2 and "no_such_node" in msg
    code, msg = invoke([*base, "--calib", str(good), "--method", "int4"])
    assert code == 2 and "int4" in msg
    code, msg = invoke([*base])
    assert code == 2 and "--calib" in msg
    code, _ = invoke([*base, "--calib", str(good)])
    assert code == 0
    code, msg = invoke(["quantize", str(tmp_path / "q.onnx"), "--calib", str(good)])
    assert code == 2 and "already quantized" in msg
