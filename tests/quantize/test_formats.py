"""Static int8 of dynamic-batch ONNX files, and the measured int8 format choice."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from edgekd.cli import app
from edgekd.quantize.api import quantize
from edgekd.quantize.config import QuantizeConfig
from edgekd.quantize.formats import candidates, describe, host_isa
from edgekd.quantize.onnx_quant import PtqSettings


def _convnet() -> nn.Module:
    """A small MobileNet-like block stack: conv, depthwise, pointwise, residual, pool, head."""
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU6())
            self.dw = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1, groups=16), nn.ReLU6())
            self.pw = nn.Conv2d(16, 16, 1)
            self.head = nn.Linear(16, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.stem(x)
            y = y + self.pw(self.dw(y))
            return self.head(y.mean((2, 3)))

    return Net().eval()


def _images(n: int, seed: int) -> np.ndarray:
    """Smooth, natural-image-like inputs (low-frequency noise), not white noise."""
    rng = np.random.default_rng(seed)
    low = torch.from_numpy(rng.standard_normal((n, 3, 4, 4)).astype(np.float32))
    return torch.nn.functional.interpolate(low, size=(24, 24), mode="bilinear").numpy()


@pytest.fixture(scope="module")
def dynamic_files(tmp_path_factory: pytest.TempPathFactory):
    """The same model exported by edgekd and by plain ``torch.onnx.export`` (dynamic batch)."""
    from edgekd.export.onnx_export import export_onnx

    d = tmp_path_factory.mktemp("dyn")
    model, x = _convnet(), _images(64, 0)
    ours = export_onnx(model, x[:1], d / "edgekd.onnx", parity_x=x[:5]).path
    plain = d / "plain.onnx"
    torch.onnx.export(
        model,
        (torch.from_numpy(x[:1]),),
        str(plain),
        input_names=["images"],
        output_names=["out"],
        dynamic_axes={"images": {0: "n"}, "out": {0: "n"}},
        dynamo=False,
    )
    np.savez(d / "calib.npz", x=x)
    return {"edgekd": ours, "plain": plain, "calib": d / "calib.npz", "dir": d}


@pytest.mark.parametrize("which", ["edgekd", "plain"])
def test_dynamic_batch_file_quantizes_and_runs_at_batch_1_and_4(dynamic_files, which):
    src = dynamic_files[which]
    dims = onnx.load(str(src)).graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and not dims[0].dim_value  # the batch is symbolic
    out = dynamic_files["dir"] / f"{which}.int8.onnx"
    cfg = QuantizeConfig(method="static", calib_samples=48, max_output_error=0.2)
    report = quantize(src, out, cfg, calib=dynamic_files["calib"])
    assert report["precision"] == "int8" and report["int8_nodes"] >= 4
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    assert not isinstance(sess.get_inputs()[0].shape[0], int)  # still dynamic after int8
    x = _images(4, 7)
    ref = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    for batch in (1, 4):
        got = sess.run(None, {name: x[:batch]})[0]
        want = ref.run(None, {name: x[:batch]})[0]
        assert got.shape == (batch, 10)
        assert np.linalg.norm(got - want) / np.linalg.norm(want) < 0.2
    # the format choice is recorded: every candidate measured, the written one among them
    fmt = report["int8_format"]
    assert fmt["chosen_settings"] == report["chosen"]
    measured = [c for c in fmt["candidates"] if c.get("p50_ms") is not None]
    assert len(measured) >= 3 and all(c["p50_ms"] > 0 for c in measured)
    chosen = [c for c in fmt["candidates"] if c["settings"] == report["chosen"]]
    assert chosen and chosen[0]["meets_bar"] and chosen[0]["bytes"] == out.stat().st_size
    assert {c["settings"]["quant_format"] for c in fmt["candidates"]} == {"qdq", "qoperator"}
    assert {c["settings"]["per_channel"] for c in fmt["candidates"]} == {False, True}


def test_cli_records_the_format_and_can_skip_the_search(dynamic_files, tmp_path):
    src, calib = dynamic_files["plain"], dynamic_files["calib"]
    runner = CliRunner()
    args = ["quantize", str(src), "--calib", str(calib), "--calib-samples", "48"]
    args += ["--max-output-error", "0.2"]
    res = runner.invoke(
        app, [*args, "--out", str(tmp_path / "a.onnx"), "--report", str(tmp_path / "a.json")]
    )
    assert res.exit_code == 0, res.output
    assert "int8 format:" in res.output
    rec = json.loads((tmp_path / "a.json").read_text())
    assert rec["int8_format"]["chosen"] in res.output
    res = runner.invoke(
        app,
        [
            *args,
            "--no-format-search",
            "--out",
            str(tmp_path / "b.onnx"),
            "--report",
            str(tmp_path / "b.json"),
        ],
    )
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "b.json").read_text())
    assert "int8_format" not in rec and rec["chosen"]["quant_format"] == "qdq"
    assert rec["chosen"]["reduce_range"] is True  # the portable default when not measured


def test_candidates_follow_the_host_instruction_set():
    base = PtqSettings()
    avx2 = {"machine": "x86_64", "x86": True, "avx2": True, "vnni": False, "arm_dotprod": False}
    vnni = {**avx2, "vnni": True}
    arm = {"machine": "aarch64", "x86": False, "avx2": False, "vnni": False, "arm_dotprod": True}
    # without VNNI, 8-bit weights can saturate u8s8 kernels: only 7-bit weights are tried
    assert all(c.reduce_range for c in candidates(base, avx2))
    assert {c.reduce_range for c in candidates(base, vnni)} == {True, False}
    # x86 keeps uint8 activations (int8 ones take a slower s8s8 path); Arm tries both
    assert {c.activations for c in candidates(base, vnni)} == {"uint8"}
    assert {c.activations for c in candidates(base, arm)} == {"uint8", "int8"}
    assert candidates(base, avx2)[0] == base
    # a per-channel request stays per-channel
    assert all(c.per_channel for c in candidates(PtqSettings(per_channel=True), vnni))
    assert describe(base) == "QDQ per-tensor 7-bit w, u8 act"
    assert set(host_isa()) >= {"machine", "x86", "vnni"}


def test_sizes_count_external_data(dynamic_files, tmp_path):
    """A model whose weights live in NAME.onnx.data (torch's dynamo exporter) is sized whole."""
    from edgekd.quantize.onnx_quant import onnx_bytes

    model = onnx.load(str(dynamic_files["plain"]))
    src = tmp_path / "ext.onnx"
    onnx.save_model(
        model, str(src), save_as_external_data=True, location="ext.onnx.data", size_threshold=0
    )
    assert (tmp_path / "ext.onnx.data").is_file()
    whole = src.stat().st_size + (tmp_path / "ext.onnx.data").stat().st_size
    assert onnx_bytes(src) == whole > 2 * src.stat().st_size
    cfg = QuantizeConfig(method="static", calib_samples=48, max_output_error=0.2)
    report = quantize(src, tmp_path / "q.onnx", cfg, calib=dynamic_files["calib"])
    assert report["float_bytes"] == whole


def test_timing_order_changes_so_no_file_always_follows_the_largest():
    """Interleaved timing: the file run right after a large one starts with cold caches; the
    order changes every round so that cost does not land on one file every round."""
    from edgekd.quantize.formats import shuffled

    files = {"fp32": 0, "a": 1, "b": 2, "c": 3}
    sequence = [k for r in range(len(files) + 2) for k, _ in shuffled(files, r)]
    followers = {sequence[i + 1] for i, k in enumerate(sequence[:-1]) if k == "fp32"}
    assert len(followers) >= 2, sequence
    assert shuffled(files, 3) == shuffled(files, 3)  # repeatable
    assert sorted(k for k, _ in shuffled(files, 5)) == sorted(files)
