from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper

from edgekd.errors import DataError, StageError, UsageError
from edgekd.quantize.api import quantize
from edgekd.quantize.config import QuantizeConfig
from edgekd.quantize.onnx_quant import PtqSettings, quantize_file
from edgekd.quantize.speedup import classify_nodes
from edgekd.runtime.onnx import OnnxRunner

CONV0 = "/features/block0/conv/Conv"


def ops(path) -> list[str]:
    return [n.op_type for n in onnx.load(str(path)).graph.node]


@pytest.mark.parametrize("calibration", ["minmax", "entropy", "percentile"])
def test_static_int8_qdq(float_onnx, digits, tmp_path, calibration):
    out = tmp_path / "q.onnx"
    done = quantize_file(float_onnx, out, PtqSettings(calibration=calibration), digits.calib.x)
    assert done["settings"]["calibration"] == calibration
    assert "QuantizeLinear" in ops(out) and "DequantizeLinear" in ops(out)
    nodes = classify_nodes(out)
    assert (nodes["int8_nodes"], nodes["float_nodes"]) == (3, 0)
    assert nodes["int8_mac_share"] == 1.0
    weights = [t for t in onnx.load(str(out)).graph.initializer if len(t.dims) == 4]
    assert weights and all(t.data_type == TensorProto.INT8 for t in weights)
    float_logits = OnnxRunner(float_onnx).predict(digits.val.x)
    int8_logits = OnnxRunner(out).predict(digits.val.x)
    assert np.mean(float_logits.argmax(1) == int8_logits.argmax(1)) > 0.9


def test_per_channel_weights(float_onnx, digits, tmp_path):
    out = tmp_path / "q.onnx"
    quantize_file(float_onnx, out, PtqSettings(per_channel=True), digits.calib.x)
    scales = [
        t for t in onnx.load(str(out)).graph.initializer if t.name.endswith("_scale") and t.dims
    ]
    assert any(t.dims[0] == 16 for t in scales)  # one scale per output channel of block1


def test_dynamic_on_matmul_model(mlp_onnx, tmp_path):
    out = tmp_path / "d.onnx"
    quantize_file(mlp_onnx, out, PtqSettings(method="dynamic"))
    assert "MatMulInteger" in ops(out) or "DynamicQuantizeLinear" in ops(out)
    assert classify_nodes(out)["int8_nodes"] >= 1


def test_dynamic_on_conv_model_warns_and_uses_static(float_onnx, digits, tmp_path):
    out = tmp_path / "d.onnx"
    with pytest.warns(UserWarning, match="ConvInteger"):
        done = quantize_file(float_onnx, out, PtqSettings(method="dynamic"), digits.calib.x)
    assert done["settings"]["method"] == "static"
    assert "ConvInteger" not in ops(out)


def test_fp16_keeps_float32_io(float_onnx, digits, tmp_path):
    out = tmp_path / "h.onnx"
    quantize_file(float_onnx, out, PtqSettings(method="fp16"))
    model = onnx.load(str(out))
    assert model.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert any(t.data_type == TensorProto.FLOAT16 for t in model.graph.initializer)
    np.testing.assert_allclose(
        OnnxRunner(out).predict(digits.val.x[:7]),
        OnnxRunner(float_onnx).predict(digits.val.x[:7]),
        atol=0.05,
    )


def test_exclude_nodes_and_op_types_stay_float(float_onnx, digits, tmp_path):
    out = tmp_path / "x.onnx"
    quantize_file(float_onnx, out, PtqSettings(exclude_nodes=(CONV0,)), digits.calib.x)
    kinds = {n["name"]: n["kind"] for n in classify_nodes(out)["nodes"]}
    assert kinds[CONV0] == "float" and kinds["/features/block1/conv/Conv"] == "int8"
    quantize_file(float_onnx, out, PtqSettings(exclude_op_types=("Gemm",)), digits.calib.x)
    kinds = {n["name"]: n["kind"] for n in classify_nodes(out)["nodes"]}
    assert kinds["/classifier/Gemm"] == "float" and kinds[CONV0] == "int8"


def test_unknown_excluded_nodes_are_named(float_onnx, digits, tmp_path):
    s = PtqSettings(exclude_nodes=(CONV0, "nope_a", "nope_b"))
    with pytest.raises(UsageError, match="nope_a, nope_b") as exc:
        quantize_file(float_onnx, tmp_path / "x.onnx", s, digits.calib.x)
    assert exc.value.exit_code == 2 and CONV0 not in str(exc.value).split("(nodes")[0]
    assert not (tmp_path / "x.onnx").exists()


def test_calibration_set_too_small(float_onnx, digits, tmp_path):
    with pytest.raises(DataError, match="has 10 samples but 128 were requested") as exc:
        quantize_file(float_onnx, tmp_path / "x.onnx", PtqSettings(), digits.calib.x[:10])
    assert exc.value.exit_code == 2


def test_calibration_set_of_wrong_shape(float_onnx, digits, tmp_path):
    bad = digits.calib.x.reshape(len(digits.calib.x), -1)
    with pytest.raises(DataError, match=r"shape \(128, 64\).*expects \(N, 1, 8, 8\)"):
        quantize_file(float_onnx, tmp_path / "x.onnx", PtqSettings(), bad)


@pytest.mark.parametrize("method", ["static", "fp16"])
def test_already_quantized_model_is_refused(float_onnx, digits, tmp_path, method):
    once = tmp_path / "once.onnx"
    quantize_file(float_onnx, once, PtqSettings(method=method), digits.calib.x)
    with pytest.raises(UsageError, match="already quantized") as exc:
        quantize_file(once, tmp_path / "twice.onnx", PtqSettings(), digits.calib.x)
    assert exc.value.exit_code == 2


def test_stage_api_report(float_onnx, digits, tmp_path):
    """The guard meets its bar or fails cleanly; either way every attempt is recorded."""
    out = tmp_path / "q.onnx"
    try:
        report = quantize(float_onnx, out, QuantizeConfig(method="static"), digits)
    except StageError as exc:  # no attempt met the bar on this machine: a clean, typed failure
        report = exc.report  # type: ignore[attr-defined]
        assert exc.exit_code == 1 and not report["met_bar"] and out.is_file()
        assert not any(a["meets_bar"] for a in report["attempts"])
        return
    assert report["met_bar"] and report["precision"] == "int8"
    assert report["chosen"]["method"] == "static"
    assert report["float_val_accuracy"] - report["quant_val_accuracy"] <= 1.0
    # the nodes left in float are exactly the ones the chosen attempt excluded
    assert report["float_nodes"] == len(report["chosen"]["exclude_nodes"])
    assert report["int8_nodes"] + report["float_nodes"] == 3
    assert report["runtime_ops"]["int8"] >= 1  # fused by onnxruntime into integer kernels
    assert set(report["measured_speedup"]) == {"1_thread", "all_threads", "batch_size"}
    assert report["quant_bytes"] > 0
    assert report["attempts"][0]["settings"]["per_channel"] is False  # the request comes first
    assert report["attempts"][-1]["meets_bar"]
    # the written file is the measured format choice; its accuracy is the one reported
    assert report["int8_format"]["chosen_settings"] == report["chosen"]
    chosen = [c for c in report["int8_format"]["candidates"] if c["settings"] == report["chosen"]]
    assert chosen and chosen[0]["meets_bar"] and chosen[0]["bytes"] == out.stat().st_size
    assert report["quant_val_accuracy"] > 50.0  # percent; chance is 10


def _int8_weights(path) -> list[np.ndarray]:
    return [
        numpy_helper.to_array(t).astype(int)
        for t in onnx.load(str(path)).graph.initializer
        if t.data_type == TensorProto.INT8 and len(t.dims) >= 2
    ]


@pytest.mark.parametrize("per_channel", [False, True])
def test_int8_weights_cannot_saturate_u8s8_kernels(
    float_onnx, mlp_onnx, digits, tmp_path, per_channel
):
    """onnxruntime's u8s8 kernels (QLinearConv, MatMulInteger) on x86 without VNNI add two
    uint8 x int8 products in a saturating int16: full-range weights made the same file give
    logits 2.0 apart on an AVX2 and an AVX-512 VNNI CPU. Weights within +-64 keep
    2 x 255 x 64 <= 32767, so the file computes the same numbers on every CPU."""
    static, dynamic = tmp_path / "s.onnx", tmp_path / "d.onnx"
    quantize_file(float_onnx, static, PtqSettings(per_channel=per_channel), digits.calib.x)
    quantize_file(mlp_onnx, dynamic, PtqSettings(method="dynamic", per_channel=per_channel))
    for path, count in ((static, 3), (dynamic, 2)):
        weights = _int8_weights(path)
        assert len(weights) == count
        assert all(2 * 255 * np.abs(w).max() <= 32767 for w in weights)


def test_stage_api_rejects_non_ptq_methods(float_onnx, digits, tmp_path):
    with pytest.raises(UsageError, match="not a post-training method"):
        quantize(float_onnx, tmp_path / "q.onnx", QuantizeConfig(method="qat"), digits)
