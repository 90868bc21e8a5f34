"""export_tflite: every precision converts, runs in LiteRT and matches its torch parent."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgekd.errors import DataError, StageError, UsageError
from edgekd.export.tflite_config import TfliteConfig
from edgekd.export.tflite_export import export_tflite
from edgekd.export.tflite_parity import check_tflite_parity
from edgekd.runtime.litert import TfliteRunner, load_interpreter

# dtypes each precision must (and must not) put in the file
EXPECTED = {
    "fp32": ({"float32"}, {"float16", "int8"}),
    "fp16": ({"float16", "float32"}, {"int8"}),
    "dynamic_int8": ({"int8", "float32"}, {"float16"}),
    "int8": ({"int8"}, {"float16"}),
}


@pytest.mark.parametrize("precision", ["fp32", "fp16", "dynamic_int8", "int8"])
def test_each_precision_converts_and_runs(exported, digits, precision):
    meta = exported(precision)
    must, must_not = EXPECTED[precision]
    dtypes = set(meta["tensor_dtypes"])
    assert must <= dtypes and not (must_not & dtypes), dtypes
    assert meta["precision"] == precision and meta["converter"].startswith("litert-torch")
    # float I/O unless int8 I/O is asked for
    assert meta["input"]["dtype"] == meta["output"]["dtype"] == "float32"
    assert meta["input"]["shape"] == [1, 1, 8, 8] and meta["output"]["shape"] == [1, 10]
    out = TfliteRunner(meta["path"]).predict(digits.test.x[:5])
    assert out.shape == (5, 10) and np.all(np.isfinite(out))


def _constant_bytes(path: str) -> int:
    from edgekd.runtime.litert import read_model

    return sum(len(b.data) for b in read_model(path).buffers if b.data is not None)


def test_quantized_weights_are_smaller(exported):
    fp32 = _constant_bytes(exported("fp32")["path"])
    # weights shrink 2x / ~4x; for this 600-parameter model the file does not (fixed overhead)
    assert _constant_bytes(exported("fp16")["path"]) < 0.6 * fp32
    assert _constant_bytes(exported("dynamic_int8")["path"]) < 0.45 * fp32
    assert _constant_bytes(exported("int8")["path"]) < 0.45 * fp32
    assert exported("int8")["file_bytes"] < exported("fp32")["file_bytes"]


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_float_parity_on_another_batch_size(student, exported, digits, precision):
    meta = exported(precision)
    report = check_tflite_parity(student, meta["path"], digits.val.x[:7], precision)
    assert report.status == "pass" and report.batch_size == 7
    if precision == "fp32":
        assert report.max_abs_diff < 1e-4


@pytest.mark.parametrize("precision", ["dynamic_int8", "int8"])
def test_quantized_top1_agreement(student, exported, digits, precision):
    cfg = TfliteConfig(precision=[precision], min_top1_agreement=0.95)
    report = check_tflite_parity(
        student, exported(precision)["path"], digits.test.x, precision, cfg
    )
    assert report.status == "pass"
    assert report.top1_agreement is not None and report.top1_agreement >= 0.95
    assert report.max_abs_diff > 0  # the dequantization error is reported, not hidden


def test_parity_gate_fails_with_a_typed_error(student, exported, digits):
    from edgekd.errors import ParityError

    cfg = TfliteConfig(atol=0.0, rtol=0.0, fp16_atol=0.0, fp16_rtol=0.0)
    with pytest.raises(ParityError, match="max abs diff"):
        check_tflite_parity(student, exported("fp16")["path"], digits.val.x[:7], "fp16", cfg)


def test_int8_io_scale_and_zero_point_are_applied(exported, digits):
    meta = exported("int8", int8_io=True)
    inp, outp = meta["input"], meta["output"]
    assert inp["dtype"] == outp["dtype"] == "int8"
    assert inp["scale"] > 0 and -128 <= inp["zero_point"] <= 127
    assert outp["scale"] > 0 and -128 <= outp["zero_point"] <= 127
    x = digits.test.x[:20]
    # by hand, with the metadata's numbers: q = round(x / s) + z; y = (q - z) * s
    interp = load_interpreter(meta["path"])
    i, o = interp.get_input_details()[0], interp.get_output_details()[0]
    manual = []
    for row in x:
        q = np.clip(np.round(row[None] / inp["scale"]) + inp["zero_point"], -128, 127)
        interp.set_tensor(i["index"], q.astype(np.int8))
        interp.invoke()
        raw = interp.get_tensor(o["index"]).astype(np.float32)
        manual.append((raw[0] - outp["zero_point"]) * outp["scale"])
    np.testing.assert_allclose(TfliteRunner(meta["path"]).predict(x), np.array(manual), atol=1e-6)
    # the float-I/O file wraps the same integer graph: identical outputs
    float_io = TfliteRunner(exported("int8")["path"]).predict(x)
    np.testing.assert_allclose(float_io, np.array(manual), atol=1e-6)


class _Histc(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.histc(x, bins=4)[None]


def test_unsupported_op_is_a_stage_error_naming_it(tmp_path):
    with pytest.raises(StageError) as info:
        export_tflite(_Histc(), np.zeros((1, 8), np.float32), tmp_path / "h.tflite")
    assert info.value.exit_code == 1
    assert "aten.histc" in str(info.value) and "ONNX" in str(info.value)
    assert not (tmp_path / "h.tflite").exists()


def test_calibration_with_wrong_shape_names_both_shapes(student, digits, tmp_path):
    bad = np.zeros((5, 1, 4, 4), np.float32)
    with pytest.raises(DataError) as info:
        export_tflite(student, digits.test.x[:1], tmp_path / "q.tflite", "int8", calib=bad)
    assert info.value.exit_code == 2
    assert "(5, 1, 4, 4)" in str(info.value) and "(N, 1, 8, 8)" in str(info.value)


def test_bad_arguments_are_usage_errors(student, digits, tmp_path):
    x = digits.test.x[:1]
    with pytest.raises(UsageError, match="calibration"):
        export_tflite(student, x, tmp_path / "a.tflite", "int8")
    with pytest.raises(UsageError, match="int8-io"):
        export_tflite(student, x, tmp_path / "b.tflite", "fp32", int8_io=True)
    with pytest.raises(UsageError, match="precision"):
        export_tflite(student, x, tmp_path / "c.tflite", "int4")


def test_config_rejects_int8_io_without_int8():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="int8_io"):
        TfliteConfig(precision=["fp32"], int8_io=True)
    assert TfliteConfig().tolerances("int8")[2] == 0.97


def test_export_checks_itself_on_another_batch_size(student, digits, tmp_path):
    from edgekd.export.parity import parity_batch

    x = digits.val.x
    assert len(parity_batch(x, 7, 7)) == 8 and len(parity_batch(x[:7], 7, 7)) == 6
    # int8 with int8 I/O: gated on top-1 agreement over the real rows given
    q = export_tflite(
        student, x[:1], tmp_path / "q.tflite", "int8", calib=digits.calib.x[:64], int8_io=True,
        parity_x=x,
    )  # fmt: skip
    assert q.meta["input"]["dtype"] == "int8" and q.meta["calibration_samples"] == 64
    assert q.parity.status == "pass" and q.parity.top1_agreement is not None
    assert q.parity.batch_size == len(x) and q.path == tmp_path / "q.tflite"
