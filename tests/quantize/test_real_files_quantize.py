"""Quantizing model files other toolchains make (issue 11, issue 19): any input signature,
opset upgrades, files that always run, and a label-free guard that catches a collapse."""

from __future__ import annotations

import json
import logging

import numpy as np
import onnx
import pytest

from edgekd.quantize.quality import run_onnx
from tests.conftest import run_cli

TEMP_MARKERS = ("edgekd-q-", "edgekd-guard-", ".part", "attempt0")


def quant(model, tmp_path, *extra: str, calib: bool = True, out: str = "q.onnx"):
    args = ["quantize", str(model.path), "--out", str(tmp_path / out)]
    if calib:
        args += ["--calib", str(model.save_calib(tmp_path / "calib.npz"))]
    code, text = run_cli([*args, *extra, "--report", str(tmp_path / "r.json")])
    assert not any(m in text for m in TEMP_MARKERS), text
    report = json.loads((tmp_path / "r.json").read_text()) if code == 0 else None
    return code, text, report


def agreement(path_a, path_b, feeds) -> float:
    a, b = run_onnx(path_a, feeds), run_onnx(path_b, feeds)
    name = next(iter(a))
    return float(np.mean(a[name].argmax(-1) == b[name].argmax(-1)))


def test_per_channel_on_opset_11_upgrades_and_writes_a_file_that_runs(corpus, tmp_path) -> None:
    m = corpus("opset11_cnn")
    code, text, report = quant(m, tmp_path, "--per-channel")
    assert code == 0, text
    out = tmp_path / "q.onnx"
    assert any("upgraded opset 11 to 13" in w for w in report["warnings"])
    assert next(o.version for o in onnx.load(str(out)).opset_import if o.domain == "") >= 13
    # every row: 32 rows of this random-weight model (tiny logit margins) let one or two
    # rounding flips decide (0.84-1.0 across CPUs and weight grids)
    feeds = [{"input": m.calib["input"]}]
    assert agreement(m.path, out, feeds) >= 0.95  # loads, runs and agrees


def test_default_static_int8_really_breaks_the_ctc_model(corpus, tmp_path) -> None:
    """The corpus model is a real case: onnxruntime's quantize_static defaults collapse it."""
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    m = corpus("ctc_recognizer")
    x = m.calib["features"]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{"features": x[i : i + 32]} for i in range(0, 128, 32)])

        def get_next(self):
            return next(self.it, None)

    logging.getLogger().setLevel(logging.ERROR)
    out = tmp_path / "default.onnx"
    quantize_static(str(m.path), str(out), Reader())
    assert agreement(m.path, out, [{"features": x[128:]}]) < 0.5


def test_guard_repairs_the_ctc_collapse_without_labels(corpus, tmp_path) -> None:
    m = corpus("ctc_recognizer")
    code, text, report = quant(m, tmp_path)
    assert code == 0, text
    assert report["met_bar"] and report["outputs"]["log_probs"]["top1"] >= 0.95
    assert report["outputs"]["log_probs"]["rel_l2"] <= 0.1
    assert report["chosen"]["exclude_nodes"]  # repaired by keeping the outlier's path float
    assert report["held_out"]["rows"] == 32  # rows 128-159, never used to calibrate
    # the file on disk is the chosen one
    x = m.calib["features"][128:]
    assert agreement(m.path, tmp_path / "q.onnx", [{"features": x}]) >= 0.95
    # attempts that produced a model seen before were skipped, not re-measured
    seen = [a["fingerprint"] for a in report["attempts"] if "outputs" in a]
    assert len(seen) == len(set(seen))
    for a in report["attempts"]:
        if "skipped" in a:
            assert "same model as attempt" in a["skipped"] and a["fingerprint"] in seen


def test_guard_refuses_naming_the_output_and_its_error(corpus, tmp_path) -> None:
    m = corpus("ctc_recognizer")
    code, text, _ = quant(m, tmp_path, "--min-agreement", "1.0", "--max-output-error", "1e-6")
    assert code == 1
    assert "output 'log_probs'" in text and "top-1 agreement" in text and "relative L2" in text


def test_multi_input_stateful_model(corpus, tmp_path) -> None:
    m = corpus("stateful")
    code, text, report = quant(m, tmp_path, "--calib-samples", "32")
    assert code == 0, text
    assert set(report["outputs"]) == {"prob", "state_out"} and report["met_bar"]
    # one array missing: exit 2 with the whole expected signature, before any work
    bad = tmp_path / "bad.npz"
    np.savez(bad, audio=m.calib["audio"], state=m.calib["state"])
    code, text = run_cli(
        ["quantize", str(m.path), "--calib", str(bad), "--out", str(tmp_path / "b.onnx")]
    )
    assert code == 2 and "no array for input(s) sr" in text
    assert "audio float32 (1, 512); state float32 (2, 1, 64); sr int64 ()" in text
    np.savez(bad, audio=m.calib["audio"], state=m.calib["state"][:, :, :, :32], sr=m.calib["sr"])
    code, text = run_cli(
        ["quantize", str(m.path), "--calib", str(bad), "--out", str(tmp_path / "b.onnx")]
    )
    assert code == 2 and "array 'state' has shape (48, 2, 1, 32)" in text
    assert not (tmp_path / "b.onnx").exists()


def test_fixed_batch_one_is_fed_row_by_row(corpus, tmp_path) -> None:
    m = corpus("fixed_batch")
    code, text, report = quant(m, tmp_path, "--calib-samples", "64")
    assert code == 0, text
    assert report["calibration_rows"] == 64 and report["held_out"]["rows"] == 96


def test_int64_inputs_static_and_fp16(corpus, tmp_path) -> None:
    m = corpus("token_classifier")
    code, text, report = quant(m, tmp_path)
    assert code == 0, text
    assert report["precision"] == "int8" and report["outputs"]["logits"]["top1"] >= 0.95
    code, text, report = quant(m, tmp_path, "--method", "fp16", calib=False, out="h.onnx")
    assert code == 0, text
    feeds = [{"ids": m.calib["ids"][:16]}]
    ref, got = run_onnx(m.path, feeds)["logits"], run_onnx(tmp_path / "h.onnx", feeds)["logits"]
    np.testing.assert_allclose(got, ref, atol=1e-2)
    # float ids where the model takes int64: exit 2, naming both dtypes
    bad = tmp_path / "f.npz"
    np.savez(bad, ids=m.calib["ids"].astype(np.float32))
    code, text = run_cli(
        ["quantize", str(m.path), "--calib", str(bad), "--out", str(tmp_path / "b.onnx")]
    )
    assert code == 2 and "'ids' is float32, the input is int64" in text


def test_a_model_without_float_weights_is_refused(tmp_path) -> None:
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("ArgMax", ["x"], ["y"], axis=1)], "g",
        [helper.make_tensor_value_info("x", TensorProto.INT64, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, ["N", 1])],
    )  # fmt: skip
    p = tmp_path / "argmax.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), p)
    for method in ("fp16", "static"):
        code, text = run_cli(
            ["quantize", str(p), "--method", method, "--out", str(tmp_path / "o.onnx")]
        )
        assert code == 2 and "no float32 weights" in text, text
    assert not (tmp_path / "o.onnx").exists()


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--max-drop", "-1"], "--max-drop"),
        (["--max-output-error", "0"], "--max-output-error"),
        (["--min-agreement", "1.5"], "--min-agreement"),
        (["--input-shape", "ids=1,13"], "dim 1 is fixed to 12"),
    ],
)
def test_bad_options_exit_2(corpus, tmp_path, extra: list[str], needle: str) -> None:
    m = corpus("token_classifier")
    code, text, _ = quant(m, tmp_path, *extra)
    assert code == 2 and needle in text, text


def test_val_labels_outside_the_classes_exit_2(corpus, tmp_path) -> None:
    m = corpus("token_classifier")
    val = tmp_path / "val.npz"
    np.savez(val, ids=m.calib["ids"][:50], y=np.arange(50) % 7)
    code, text, _ = quant(m, tmp_path, "--val", str(val))
    assert code == 2 and "labels range 0..6" in text and "4 classes" in text
    ctc = corpus("ctc_recognizer")
    np.savez(val, features=ctc.calib["features"][:10], y=np.zeros(10, np.int64))
    code, text, _ = quant(ctc, tmp_path, "--val", str(val))
    assert code == 2 and "(N, classes)" in text and "'log_probs'" in text


def test_out_is_never_the_input_without_force(corpus, tmp_path) -> None:
    import shutil

    m = corpus("token_classifier")
    src = tmp_path / "model.onnx"
    shutil.copyfile(m.path, src)
    before = src.read_bytes()
    calib = str(m.save_calib(tmp_path / "c.npz"))
    code, text = run_cli(["quantize", str(src), "--calib", calib, "--out", str(src)])
    assert code == 2 and "is the input file" in text and src.read_bytes() == before
    code, text = run_cli(["quantize", str(src), "--calib", calib, "--out", str(src), "--force"])
    assert code == 0, text
    assert src.read_bytes() != before and "QuantizeLinear" in {
        n.op_type for n in onnx.load(str(src)).graph.node
    }


def test_python_api_takes_arrays_by_input_name(corpus, tmp_path) -> None:
    import edgekd
    from edgekd.quantize.config import QuantizeConfig

    m = corpus("stateful")
    cfg = QuantizeConfig(method="static", calib_samples=32)
    report = edgekd.quantize(m.path, tmp_path / "q.onnx", cfg, calib=m.calib)
    assert report["met_bar"] and report["format"] == "onnx"


@pytest.mark.parametrize("method", ["static", "dynamic", "weight_only", "fp16"])
def test_tflite_in(corpus, tmp_path, method: str) -> None:
    from edgekd.quantize.tflite_quant import TfliteModel
    from edgekd.runtime.litert import tflite_op_types

    m = corpus("tflite_mlp")
    code, text, report = quant(m, tmp_path, "--method", method, out="q.tflite")
    assert code == 0, text
    assert report["format"] == "tflite" and report["met_bar"]
    assert report["quant_bytes"] < report["float_bytes"]
    assert report["outputs"]["logits"]["rel_l2"] <= 0.1
    out = tmp_path / "q.tflite"
    ops = tflite_op_types(out)
    if method == "static":
        assert report["io"]["x"]["dtype"] == "int8" and "DEQUANTIZE" not in ops
    assert TfliteModel(out).run(_rows(m))["logits"].shape == (2, 10)  # runs in LiteRT


def _rows(m):
    from edgekd.quantize.signature import as_samples
    from edgekd.quantize.tflite_quant import TfliteModel

    return as_samples(m.calib, TfliteModel(m.path).specs(), "x").take(slice(0, 2))


def test_tflite_fp16_file_is_widened_then_quantized(corpus, tmp_path) -> None:
    m = corpus("tflite_mlp_fp16")
    code, text, report = quant(m, tmp_path, "--method", "dynamic", out="q.tflite")
    assert code == 0, text
    assert any("widened" in w for w in report["warnings"])
    assert report["quant_bytes"] < report["float_bytes"]
    code, text, _ = quant(m, tmp_path, "--method", "fp16", out="h.tflite")
    assert code == 2 and "already has float16 weights" in text


def test_tflite_bad_requests_exit_2(corpus, tmp_path) -> None:
    m = corpus("tflite_mlp")
    code, text, _ = quant(m, tmp_path, "--per-channel", out="q.tflite")
    assert code == 2 and "onnxruntime settings" in text
    code, text, _ = quant(m, tmp_path, out="q.onnx")
    assert code == 2 and ".tflite like its input" in text
    onnx_model = corpus("fixed_batch")
    code, text, _ = quant(onnx_model, tmp_path, "--method", "weight_only")
    assert code == 2 and "does not apply to a .onnx file" in text


def test_export_refuses_an_exported_file(corpus) -> None:
    for name in ("fixed_batch", "tflite_mlp"):
        path = corpus(name).path
        code, text = run_cli(["export", str(path)])
        assert code == 2 and "already exported" in text and "edgekd quantize" in text
