"""``edgekd export`` reads a model file by what it holds: a torch.save'd state dict is named as
such (with the options it needs), never reported as a corrupt TorchScript file."""

from __future__ import annotations

import torch

from tests.conftest import run_cli
from tests.export.conftest import DEPTH, WIDTH


def test_state_dict_pt_needs_its_architecture_then_exports(student, tmp_path):
    src = tmp_path / "student.pt"
    torch.save(student.state_dict(), src)
    code, msg = run_cli(["export", str(src), "--format", "onnx", "--input-shape", "1,8,8"])
    assert code == 2 and msg.count("error:") == 1, msg
    assert f"{src}: a torch.save'd state dict (" in msg
    assert "it needs --arch, --width, --depth, --num-classes" in msg and "TorchScript" not in msg
    zoo = ["--arch", "cnn", "--width", str(WIDTH), "--depth", str(DEPTH), "--num-classes", "10"]
    out = tmp_path / "s.onnx"
    code, msg = run_cli(
        ["export", str(src), "--format", "onnx", "--input-shape", "1,8,8", *zoo, "--out", str(out)]
    )
    assert code == 0 and "parity vs torch on 7 inputs: pass" in msg, msg
    assert out.read_bytes()[:1] == b"\x08"  # an ONNX ModelProto


def test_whole_pickled_module_and_truncated_pt_are_named(student, tmp_path):
    torch.save(student, tmp_path / "whole.pt")
    code, msg = run_cli(["export", str(tmp_path / "whole.pt"), "--input-shape", "1,8,8"])
    assert code == 2 and "a whole nn.Module saved with torch.save(model)" in msg, msg
    (tmp_path / "cut.pt").write_bytes((tmp_path / "whole.pt").read_bytes()[:100])
    code, msg = run_cli(["export", str(tmp_path / "cut.pt"), "--input-shape", "1,8,8"])
    assert code == 2 and "not a TorchScript, torch.export or torch.save file" in msg, msg


def test_out_suffix_must_match_the_format(tmp_path):
    for fmt, out in [("onnx", "m.tflite"), ("tflite", "m.onnx"), ("onnx", "m.pt2")]:
        code, msg = run_cli(["export", str(tmp_path / "absent.pt2"), "--format", fmt, "--out", out])
        assert code == 2 and f"--out {out}: --format {fmt} writes a .{fmt} file" in msg, msg
