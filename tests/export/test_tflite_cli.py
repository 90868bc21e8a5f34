"""``edgekd export``: exit codes and messages through the real entry point."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import run_cli as invoke
from tests.export.conftest import DEPTH, WIDTH


@pytest.fixture(scope="module")
def student_file(student, tmp_path_factory):
    from safetensors.torch import save_file

    path = tmp_path_factory.mktemp("cli") / "student.safetensors"
    save_file(student.state_dict(), str(path))
    return path


ZOO = [
    "--arch",
    "cnn",
    "--width",
    str(WIDTH),
    "--depth",
    str(DEPTH),
    "--input-shape",
    "1,8,8",
    "--num-classes",
    "10",
]


def test_int8_io_with_c_array(student_file, digits, tmp_path):
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=digits.calib.x)
    out = tmp_path / "m.tflite"
    code, text = invoke(
        [
            "export",
            str(student_file),
            *ZOO,
            "--precision",
            "int8",
            "--int8-io",
            "--calib",
            str(calib),
            "--out",
            str(out),
            "--c-array",
        ]
    )
    assert code == 0, text
    assert out.is_file() and (tmp_path / "model_data.cc").is_file()
    assert (
        "scale=" in text and "zero_point=" in text and "parity vs torch" in text and "pass" in text
    )


def test_exported_program_fp32(student, tmp_path):
    pt2 = tmp_path / "student.pt2"
    torch.export.save(torch.export.export(student, (torch.zeros(1, 1, 8, 8),)), str(pt2))
    code, text = invoke(["export", str(pt2)])
    assert code == 0, text
    assert (tmp_path / "student.fp32.tflite").is_file()


def test_torchscript_needs_and_uses_input_shape(student, tmp_path):
    pt = tmp_path / "student.pt"
    torch.jit.script(student).save(str(pt))
    code, text = invoke(["export", str(pt)])
    assert code == 2 and "--input-shape" in text
    code, text = invoke(["export", str(pt), "--input-shape", "1,8,8", "--precision", "fp16"])
    assert code == 0, text


def test_unsupported_op_exits_1(tmp_path):
    class Histc(torch.nn.Module):
        def forward(self, x):
            return torch.histc(x, bins=4)[None]

    pt2 = tmp_path / "h.pt2"
    torch.export.save(torch.export.export(Histc(), (torch.zeros(1, 8),)), str(pt2))
    code, text = invoke(["export", str(pt2)])
    assert code == 1 and "aten.histc" in text and "--format onnx" in text


def test_bad_inputs_exit_2(student_file, tmp_path):
    calib = tmp_path / "bad.npz"
    np.savez(calib, x=np.zeros((4, 3), np.float32))
    code, text = invoke(
        ["export", str(student_file), *ZOO, "--precision", "int8", "--calib", str(calib)]
    )
    assert code == 2 and "(4, 3)" in text and "(N, 1, 8, 8)" in text
    code, text = invoke(["export", str(student_file)])
    assert code == 2 and "--arch" in text
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file")
    code, text = invoke(["export", str(broken), *ZOO])
    assert code == 2 and str(broken) in text
    code, text = invoke(["export", str(student_file), *ZOO, "--precision", "int3"])
    assert code == 2 and "int3" in text


def test_onnx_from_an_exported_program(student, tmp_path):
    pt2 = tmp_path / "student.pt2"
    torch.export.save(torch.export.export(student, (torch.zeros(1, 1, 8, 8),)), str(pt2))
    code, text = invoke(["export", str(pt2), "--format", "onnx"])
    assert code == 0, text
    assert (tmp_path / "student.onnx").is_file() and "parity vs torch on 7 inputs: pass" in text
