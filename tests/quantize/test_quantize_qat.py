from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, numpy_helper

from edgekd.distill.config import DistillConfig
from edgekd.errors import DataError
from edgekd.export.parity import compare_outputs
from edgekd.quantize.config import QuantizeConfig
from edgekd.quantize.fake_quant import (
    FakeQuant,
    QuantLayer,
    calibrate,
    fold_batchnorm,
)
from edgekd.quantize.qat import export_qdq, fine_tune_qat, qat
from edgekd.quantize.qdq_fold import quantize_linear
from edgekd.runtime.onnx import OnnxRunner
from edgekd.train.config import TrainConfig
from edgekd.train.loop import predict

# x86 u8s8 kernels without VNNI add two uint8 x int8 products in a saturating int16:
# 2 * 255 * |w| must stay <= 32767, so weight codes must stay within +-64.
INT16_MAX, UINT8_MAX = 32767, 255


def test_quantize_linear_rounds_half_to_even_and_saturates():
    x = np.array([0.5, -1.0, 0.025, 0.035, 2.0], np.float32)
    q = quantize_linear(x, np.array(0.01, np.float32), np.array(0, np.int8), axis=0)
    assert q.tolist() == [50, -100, 2, 4, 127]


def test_fold_batchnorm_preserves_outputs(student, digits):
    folded = fold_batchnorm(student)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    np.testing.assert_allclose(
        predict(folded, digits.val.x[:20]), predict(student, digits.val.x[:20]), atol=1e-4
    )


@pytest.mark.parametrize("axis", [None, 0])
def test_fake_quant_weights_lie_on_a_symmetric_grid_that_cannot_saturate_int16(axis):
    torch.manual_seed(0)
    w = torch.randn(4, 3, 3, 3)
    out = FakeQuant(weight=True, axis=axis)(w)
    peak = w.abs().amax(dim=(1, 2, 3), keepdim=True) if axis == 0 else w.abs().max()
    codes = out / (peak / 64)
    assert torch.allclose(codes, codes.round(), atol=1e-3)
    assert codes.abs().max() <= 64.001
    assert 2 * UINT8_MAX * int(codes.abs().max().round()) <= INT16_MAX


def test_frozen_layer_puts_weight_and_bias_on_their_integer_grids():
    torch.manual_seed(0)
    layer = QuantLayer(torch.nn.Conv2d(3, 4, 3, bias=True), per_channel=True, quant_output=True)
    calibrate(layer, torch.randn(16, 3, 6, 6))
    layer.freeze()
    s_in = layer.act_in.current_qparams()[0]
    s_w = layer.w.current_qparams()[0]
    bias_codes = layer.layer.bias.detach() / (s_in * s_w)
    weight_codes = layer.layer.weight.detach() / s_w.view(-1, 1, 1, 1)
    assert torch.allclose(bias_codes, bias_codes.round(), atol=1e-3)
    assert torch.allclose(weight_codes, weight_codes.round(), atol=1e-4)
    x = torch.randn(5, 3, 6, 6)
    np.testing.assert_array_equal(layer(x).detach().numpy(), layer(x).detach().numpy())


def _qat_model(student, digits, teacher_logits, per_channel: bool, epochs: int, tmp_path):
    out = tmp_path / "qat.onnx"
    cfg = QuantizeConfig(
        method="qat",
        per_channel=per_channel,
        qat=TrainConfig(epochs=epochs, lr=5e-4),
        allow_degraded=True,
    )
    report = qat(student, cfg, digits, teacher_logits, DistillConfig(), out)
    return out, report


@pytest.mark.parametrize(("per_channel", "epochs"), [(False, 1), (True, 1), (True, 5)])
def test_qat_exports_int8_qdq_that_computes_what_the_model_computes(
    student, digits, teacher_logits, tmp_path, per_channel, epochs
):
    out, report = _qat_model(student, digits, teacher_logits, per_channel, epochs, tmp_path)
    parity = report["parity"]
    assert parity["status"] == "pass"
    # the file and its fake-quant model agree on every sample but rare rounding ties
    assert parity["top1_agreement"] >= 0.99 and parity["rows_within_tol"] >= 0.99
    n = len(digits.train.x) + len(digits.val.x) + len(digits.test.x)
    assert parity["batch_size"] == n != 2
    assert (report["int8_nodes"], report["float_nodes"]) == (3, 0)
    graph = onnx.load(str(out)).graph
    int8 = [t for t in graph.initializer if t.data_type == TensorProto.INT8]
    assert {tuple(t.dims) for t in int8} >= {(8, 1, 3, 3), (16, 8, 3, 3), (10, 16)}
    for t in int8:  # no int16 saturation in onnxruntime's u8s8 kernels on any x86 CPU
        assert 2 * UINT8_MAX * int(np.abs(numpy_helper.to_array(t).astype(int)).max()) <= INT16_MAX
    assert not any(
        t.data_type == TensorProto.FLOAT and len(t.dims) == 4 for t in graph.initializer
    )  # no float conv weights left
    logits = OnnxRunner(out).predict(digits.val.x[:3])
    assert logits.shape == (3, 10)
    assert report["attempts"][0]["settings"]["method"] == "qat"
    assert report["met_bar"] == (report["float_val_accuracy"] - report["quant_val_accuracy"] <= 1)


def _fused_conv_codes(path, x: np.ndarray) -> dict[str, np.ndarray]:
    """uint8 output of every QLinearConv onnxruntime fuses the QDQ file into, by module path."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = str(path.with_suffix(".fused.onnx"))
    ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    fused = onnx.load(opts.optimized_model_filepath)
    names = [n.output[0] for n in fused.graph.node if n.op_type == "QLinearConv"]
    for name in names:
        fused.graph.output.append(onnx.helper.make_tensor_value_info(name, TensorProto.UINT8, None))
    plain = ort.SessionOptions()
    plain.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        fused.SerializeToString(), plain, providers=["CPUExecutionProvider"]
    )
    outputs = session.run(names, {session.get_inputs()[0].name: x})
    # "/features/block0/conv/act_out/QuantizeLinear_output_0" -> "features.block0.conv"
    paths = [n.split("/act_out/")[0].strip("/").replace("/", ".") for n in names]
    return dict(zip(paths, outputs, strict=True))


def _torch_conv_codes(qmodel: torch.nn.Module, x: np.ndarray) -> dict[str, np.ndarray]:
    """uint8 codes of every fake-quantized conv output of ``qmodel``, by module path."""
    codes: dict[str, np.ndarray] = {}
    hooks = []
    for name, m in qmodel.named_modules():
        if isinstance(m, QuantLayer) and isinstance(m.act_out, FakeQuant):

            def hook(mod, _inp, out, name=name):
                scale, zero = mod.act_out.current_qparams()
                codes[name] = (torch.round(out / scale) + zero).to(torch.uint8).numpy()

            hooks.append(m.register_forward_hook(hook))
    predict(qmodel, x, batch_size=len(x))
    for h in hooks:
        h.remove()
    return codes


@pytest.mark.parametrize("per_channel", [False, True])
def test_every_layer_of_the_file_matches_the_fake_quant_model_code_for_code(
    student, digits, teacher_logits, tmp_path, per_channel
):
    """Layer by layer: each conv's uint8 output in onnxruntime's fused integer kernel
    (QLinearConv) against the same layer's fake-quant output in torch."""
    cfg = QuantizeConfig(method="qat", per_channel=per_channel, qat=TrainConfig(epochs=1))
    qmodel, _ = fine_tune_qat(student, cfg, digits, teacher_logits, DistillConfig())
    path = export_qdq(qmodel, digits.val.x[:2], tmp_path / "qat.onnx")
    x = digits.val.x
    fused, ours = _fused_conv_codes(path, x), _torch_conv_codes(qmodel, x)
    assert set(fused) == set(ours) == {"features.block0.conv", "features.block1.conv"}
    for name, codes in ours.items():
        diff = np.abs(fused[name].astype(int) - codes.astype(int))
        share = float(np.mean(diff > 0))
        # only a value sitting on a rounding tie may land one step away
        assert diff.max() <= 1 and share <= 1e-4, f"{name}: {share:.3%} differ, up to {diff.max()}"


def test_rows_within_tolerance_gate_catches_a_systematic_offset():
    ref = {"logits": np.eye(4, dtype=np.float32) * 5}
    shifted = {"logits": ref["logits"] + np.float32(0.01)}
    report = compare_outputs(
        ref, shifted, 1e-4, 1e-4, min_top1_agreement=0.99, min_rows_within_tol=0.99
    )
    assert report.top1_agreement == 1.0 and report.rows_within_tol == 0.0
    assert report.status == "fail" and "0.00% of rows within atol=0.0001" in report.failures[0]


def test_qat_calibration_set_too_small(student, digits, teacher_logits, tmp_path):
    cfg = QuantizeConfig(method="qat", calib_samples=100_000)
    with pytest.raises(DataError, match="but 100000 were requested"):
        qat(student, cfg, digits, teacher_logits, DistillConfig(), tmp_path / "q.onnx")
