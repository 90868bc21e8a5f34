from __future__ import annotations

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


def test_quantize_cli_static_with_guard(float_onnx, digits, tmp_path):
    calib, val = tmp_path / "calib.npz", tmp_path / "val.npz"
    np.savez(calib, x=digits.calib.x)
    np.savez(val, x=digits.val.x, y=digits.val.y)
    out, report = tmp_path / "q.onnx", tmp_path / "r.json"
    args = ["quantize", str(float_onnx), "--calib", str(calib), "--val", str(val)]
    code, output = invoke([*args, "--out", str(out), "--report", str(report)])
    assert code == 0, output
    assert out.is_file() and report.is_file()
    assert "3 int8" in output and "val accuracy" in output


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
