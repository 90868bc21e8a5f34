from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto

from edgekd.distill.config import DistillConfig
from edgekd.errors import DataError
from edgekd.quantize.config import QuantizeConfig
from edgekd.quantize.fake_quant import FakeQuant, fold_batchnorm
from edgekd.quantize.qat import qat
from edgekd.quantize.qdq_fold import quantize_linear
from edgekd.runtime.onnx import OnnxRunner
from edgekd.train.config import TrainConfig
from edgekd.train.loop import predict


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


def test_fake_quant_weights_lie_on_a_symmetric_int8_grid():
    fq = FakeQuant(weight=True, axis=0)
    w = torch.randn(4, 3, 3, 3)
    out = fq(w)
    scale = w.abs().amax(dim=(1, 2, 3)) / 127
    codes = out / scale.view(-1, 1, 1, 1)
    assert torch.allclose(codes, codes.round(), atol=1e-3)
    assert codes.abs().max() <= 127.001


@pytest.mark.parametrize("per_channel", [False, True])
def test_qat_exports_int8_qdq_that_passes_parity(
    student, digits, teacher_logits, tmp_path, per_channel
):
    out = tmp_path / "qat.onnx"
    cfg = QuantizeConfig(
        method="qat",
        per_channel=per_channel,
        qat=TrainConfig(epochs=1, lr=5e-4),
        allow_degraded=True,
    )
    report = qat(student, cfg, digits, teacher_logits, DistillConfig(), out)
    assert report["parity"]["status"] == "pass"
    assert report["parity"]["top1_agreement"] >= 0.99
    assert report["parity"]["batch_size"] == len(digits.val.x) != 2
    assert (report["int8_nodes"], report["float_nodes"]) == (3, 0)
    graph = onnx.load(str(out)).graph
    int8 = [t for t in graph.initializer if t.data_type == TensorProto.INT8]
    assert {tuple(t.dims) for t in int8} >= {(8, 1, 3, 3), (16, 8, 3, 3), (10, 16)}
    assert not any(
        t.data_type == TensorProto.FLOAT and len(t.dims) == 4 for t in graph.initializer
    )  # no float conv weights left
    logits = OnnxRunner(out).predict(digits.val.x[:3])
    assert logits.shape == (3, 10)
    assert report["attempts"][0]["settings"]["method"] == "qat"


def test_qat_calibration_set_too_small(student, digits, teacher_logits, tmp_path):
    cfg = QuantizeConfig(method="qat", calib_samples=100_000)
    with pytest.raises(DataError, match="but 100000 were requested"):
        qat(student, cfg, digits, teacher_logits, DistillConfig(), tmp_path / "q.onnx")
