"""An empty file parses as an empty ONNX model: every reader refuses it naming the file."""

from __future__ import annotations

import numpy as np
import pytest

from edgekd.errors import ModelFileError
from edgekd.runtime.onnx import OnnxRunner, read_onnx
from tests.conftest import run_cli


def test_empty_onnx_file_is_named(tmp_path):
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match=r"empty.onnx: not a valid ONNX model"):
        read_onnx(empty)
    with pytest.raises(ModelFileError, match=r"empty.onnx: not a valid ONNX model"):
        OnnxRunner(empty)
    np.savez(tmp_path / "calib.npz", x=np.zeros((4, 1, 8, 8), np.float32))
    # found by fuzzing: quantize said "the ONNX model has no graph input", naming no file
    code, out = run_cli(["quantize", str(empty), "--calib", str(tmp_path / "calib.npz")])
    assert code == 2 and f"error: {empty}: not a valid ONNX model" in out, out


@pytest.fixture
def valid(tmp_path):
    from tests.fuzz.harness import onnx_model

    np.savez(tmp_path / "calib.npz", x=np.zeros((16, 1, 8, 8), np.float32))
    return onnx_model(tmp_path / "m.onnx")


def test_op_type_that_is_not_utf8_is_named_not_a_type_error(valid, tmp_path):
    """Found by fuzzing (seed 1): protobuf hands a non-UTF-8 op type over as bytes, and the
    profiler's `', '.join(...)` raised TypeError (exit 1)."""
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(valid.read_bytes().replace(b"GlobalAveragePool", b"Glob\xecAveragePool!"))
    for args in (["quantize", str(bad), "--method", "fp16"], ["profile", str(bad), "--no-measure"]):
        code, out = run_cli(args)
        assert code == 2 and f"error: {bad}: not a valid ONNX model" in out, out
    assert "node 2 has an op type or name that is not UTF-8 text" in run_cli(args[:3])[1]


def test_initializer_shorter_than_its_shape_is_named(valid, tmp_path):
    """Found by fuzzing (seed 1): onnx.checker passes it, onnxruntime then failed with a
    traceback inside quantization."""
    import onnx

    model = onnx.load(str(valid))
    model.graph.initializer[0].dims[:] = [4, 1, 2, 3]  # 96 bytes; the file holds 144
    bad = tmp_path / "short.onnx"
    onnx.save(model, str(bad))
    calib = str(tmp_path / "calib.npz")
    for args in (["profile", str(bad), "--no-measure"], ["quantize", str(bad), "--calib", calib]):
        code, out = run_cli(args)
        assert code == 2 and "initializer 'w' holds 144 bytes but its shape [4, 1, 2, 3]" in out
        assert "Traceback" not in out and str(bad) in out


def test_calibration_shape_mismatch_names_a_file(valid, tmp_path):
    """Found by fuzzing (seed 1): the message named neither the model nor the data."""
    small = tmp_path / "small.npz"
    np.savez(small, x=np.zeros((16, 1, 4, 4), np.float32))
    code, out = run_cli(["quantize", str(valid), "--calib", str(small)])
    assert code == 2 and out.count("error:") == 1 and str(small) in out, out
    assert "(16, 1, 4, 4)" in out and "input 'x' expects (N, 1, 8, 8)" in out


def test_model_onnxruntime_refuses_is_named_before_quantizing(valid, tmp_path):
    """Found by fuzzing (seed 2): the checker passes a graph output typed int8 over a float
    Gemm; quantization's own onnxruntime sessions then failed with a traceback (exit 1)."""
    import onnx

    model = onnx.load(str(valid))
    model.graph.output[0].type.tensor_type.elem_type = onnx.TensorProto.INT8
    bad = tmp_path / "typed.onnx"
    onnx.save(model, str(bad))
    code, out = run_cli(["quantize", str(bad), "--calib", str(tmp_path / "calib.npz")])
    assert code == 2 and f"error: {bad}: onnxruntime cannot load it" in out, out
    assert "Traceback" not in out and out.count("error:") == 1
