from __future__ import annotations

import re
import sys

import torch
from safetensors.torch import save_file

from tests.conftest import run_cli as invoke


def test_register_does_not_import_heavy_backends():
    code = (
        "import sys, typer; from edgekd.prune.cli import register; register(typer.Typer()); "
        "print(any(m in sys.modules for m in ('torch', 'onnx', 'onnxruntime')))"
    )
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_prune_cli_structured_writes_a_smaller_exported_program(student, tmp_path):
    src = tmp_path / "student.safetensors"
    save_file({k: v.contiguous() for k, v in student.state_dict().items()}, str(src))
    code, output = invoke(["prune", str(src), "--sparsity", "0.5", "--steps", "1", "--epochs", "1"])
    assert code == 0, output
    out = tmp_path / "student.pruned.pt2"
    assert out.is_file() and "params" in output
    program = torch.export.load(str(out))
    logits = program.module()(torch.zeros(3, 1, 8, 8))
    assert logits.shape == (3, 10)
    conv = program.state_dict["features.block0.conv.weight"]
    assert conv.shape[0] < 8  # global ranking: fewer channels than the dense 8


def test_prune_cli_unstructured_safetensors(student, tmp_path):
    src = tmp_path / "s.safetensors"
    save_file({k: v.contiguous() for k, v in student.state_dict().items()}, str(src))
    out = tmp_path / "p.safetensors"
    args = ["prune", str(src), "--method", "unstructured", "--sparsity", "0.5", "--steps", "1"]
    code, output = invoke([*args, "--epochs", "1", "--out", str(out)])
    assert code == 0, output and out.is_file()
    assert "does not speed up" in output


def test_prune_cli_bad_inputs_exit_2(student, tmp_path):
    src = tmp_path / "s.safetensors"
    save_file({k: v.contiguous() for k, v in student.state_dict().items()}, str(src))
    code, msg = invoke(["prune", str(src), "--sparsity", "1.2"])
    assert code == 2 and "--sparsity" in msg and "[0, 1)" in msg
    code, msg = invoke(["prune", str(tmp_path / "m.pt2")])
    assert code == 2 and "m.pt2: model file not found" in msg
    torch.jit.save(torch.jit.trace(student.eval(), torch.zeros(1, 1, 8, 8)), str(tmp_path / "t.pt"))
    code, msg = invoke(["prune", str(tmp_path / "t.pt")])
    assert code == 2 and "a TorchScript model (torch.jit.save) has no editable layers" in msg
    assert "torch.save(model.state_dict())" in msg
    code, msg = invoke(["prune", str(src), "--width", "16"])
    assert code == 2 and "does not match zoo arch 'cnn' width=16" in msg


def test_prune_cli_reports_accuracy_and_warns_past_max_drop(student, tmp_path):
    """A step that costs more than --max-drop points prints one warning (stderr, yellow) and
    records it in the --report JSON; accuracy before/after and channels removed are printed."""
    import json

    src = tmp_path / "s.safetensors"
    save_file({k: v.contiguous() for k, v in student.state_dict().items()}, str(src))
    args = ["prune", str(src), "--method", "structured", "--sparsity", "0.5", "--scope", "layer"]
    args += ["--steps", "1", "--epochs", "1", "--out", str(tmp_path / "p.pt2")]
    code, output = invoke([*args, "--max-drop", "0", "--report", str(tmp_path / "r.json")])
    assert code == 0, output
    report = json.loads((tmp_path / "r.json").read_text())
    assert "channels 24 -> 12 (50.0% removed)" in output and "sparsity 0.0%" not in output
    line = next(x for x in output.splitlines() if x.startswith("val accuracy"))
    before, after = (float(v) for v in re.findall(r"([\d.]+)%", line)[:2])
    assert abs(before - after - report["accuracy_drop_pp"]) < 0.01
    if report["accuracy_drop_pp"] > 0:
        assert output.count("warning: pruning lost") == 1 and "warning" in report
    code, output = invoke([*args, "--max-drop", "100", "--report", str(tmp_path / "r2.json")])
    assert code == 0 and "warning" not in output
    assert "warning" not in json.loads((tmp_path / "r2.json").read_text())


def test_prune_cli_unstructured_reports_real_sparsity(student, tmp_path):
    src = tmp_path / "s.safetensors"
    save_file({k: v.contiguous() for k, v in student.state_dict().items()}, str(src))
    args = ["prune", str(src), "--method", "unstructured", "--sparsity", "0.75", "--steps", "2"]
    code, output = invoke([*args, "--epochs", "2", "--out", str(tmp_path / "p.safetensors")])
    assert code == 0, output
    share = float(re.search(r"sparsity ([\d.]+)% of Conv/Linear weights", output).group(1))
    assert 74 <= share <= 76


def test_prune_cli_negative_max_drop_exit_2(student, tmp_path):
    src = tmp_path / "s.safetensors"
    save_file({k: v.contiguous() for k, v in student.state_dict().items()}, str(src))
    code, msg = invoke(["prune", str(src), "--max-drop", "-1"])
    assert code == 2 and "--max-drop" in msg


def test_prune_out_suffix_decides_the_format_and_others_are_refused(student, tmp_path):
    """`--out x.onnx` used to get a torch.export zip; now the suffix is checked before any
    work and the file's content always matches it."""
    src = tmp_path / "s.safetensors"
    save_file({k: v.contiguous() for k, v in student.state_dict().items()}, str(src))
    for out, expected in [
        ("x.onnx", "prune writes .pt2: torch.export program"),
        ("x.pt", "not '.pt'"),
        ("x", "not 'a file without suffix'"),
    ]:
        code, msg = invoke(["prune", str(src), "--out", str(tmp_path / out)])
        assert code == 2 and f"--out {tmp_path / out}" in msg and expected in msg, msg
        assert msg.count("error:") == 1 and not (tmp_path / out).exists()
    assert (
        "edgekd export OUT.pt2 --format onnx"
        in invoke(["prune", str(src), "--out", str(tmp_path / "x.onnx")])[1]
    )
    code, msg = invoke(["prune", str(src), "--out", str(tmp_path / "x.safetensors")])
    assert code == 2 and "structured pruning changes layer shapes" in msg


def test_prune_a_torch_saved_state_dict(student, tmp_path):
    from safetensors.torch import load_file

    src = tmp_path / "s.pt"
    torch.save(student.state_dict(), src)
    out = tmp_path / "p.safetensors"
    args = ["prune", str(src), "--method", "unstructured", "--sparsity", "0.5", "--steps", "1"]
    code, output = invoke([*args, "--epochs", "1", "--out", str(out)])
    assert code == 0, output
    assert set(load_file(str(out))) == set(student.state_dict())


def test_prune_cli_fine_tunes_with_its_threads(student, tmp_path, monkeypatch):
    """--threads (default 1) is torch's thread count while pruning; restored afterwards."""
    import importlib

    api = importlib.import_module("edgekd.prune.api")  # edgekd.prune is also a callable
    real, seen = api.prune, []

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "prune", spy)
    src = tmp_path / "s.safetensors"
    save_file({k: v.contiguous() for k, v in student.state_dict().items()}, str(src))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for extra, want in (([], 1), (["--threads", "2"], 2)):
            args = ["prune", str(src), "--steps", "1", "--epochs", "1", *extra]
            code, out = invoke([*args, "--out", str(tmp_path / "p.pt2")])
            assert code == 0, out
            assert seen[-1] == want and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
