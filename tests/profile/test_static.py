from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgekd.errors import ModelFileError
from edgekd.profile.graph import peak_live_bytes
from edgekd.profile.static import analyze


def test_onnx_exact_counts(tiny_onnx: Path) -> None:
    s = analyze(tiny_onnx)
    assert s.format == "onnx" and s.precision == "fp32"
    assert s.params == 216 + 8 + 72 + 8 + 80 + 10
    assert s.weight_bytes == 4 * s.params
    by = {op.name: op for op in s.ops}
    assert by["conv"].macs == 8 * 8 * 8 * 27 and by["conv"].op_class == "conv"
    assert by["dw"].macs == 8 * 8 * 8 * 9 and by["dw"].op_class == "depthwise"
    assert by["gap"].macs == 512 and by["gap"].op_class == "pool"
    assert by["fc"].macs == 80 and by["fc"].op_class == "gemm"
    assert by["relu"].fused and by["flatten"].fused and not by["conv"].fused
    # headline MACs are multiply-accumulates only; relu and pooling are element operations
    assert s.macs == 13824 + 4608 + 80
    assert s.elementwise_ops == 512 + 512
    assert by["conv"].weight_bytes == 4 * (216 + 8)
    # peak: the depthwise step holds its input and output, 8x8x8 fp32 each
    assert s.peak_activation_bytes == 2 * 8 * 8 * 8 * 4
    assert s.op_types == ["Conv", "Relu", "GlobalAveragePool", "Flatten", "Gemm"]
    assert s.input_shapes == {"x": [1, 3, 8, 8]}  # symbolic batch fixed to 1


def test_liveness_on_a_branching_graph() -> None:
    # a -> op0 -> b ; a -> op1 -> c ; (b, c) -> op2 -> d. a is live until op1 ends.
    steps = [(["a"], ["b"]), (["a"], ["c"]), (["b", "c"], ["d"])]
    sizes = {"a": 100, "b": 10, "c": 20, "d": 1}
    # step 1 holds a, b, c = 130; step 2 holds b, c, d = 31
    assert peak_live_bytes(steps, sizes, ["a"], ["d"]) == 130
    assert peak_live_bytes(steps[2:], sizes, ["b", "c"], ["d"]) == 31


def test_qdq_int8_precision_and_sizes(big_onnx: Path, big_int8: Path) -> None:
    fp32, q = analyze(big_onnx), analyze(big_int8)
    assert fp32.precision == "fp32" and q.precision == "int8"
    assert q.params == fp32.params
    assert q.weight_bytes < fp32.weight_bytes / 2
    assert q.peak_activation_bytes == fp32.peak_activation_bytes // 4
    convs = [op for op in q.ops if op.op_type == "Conv"]
    assert convs and all(op.precision == "int8" for op in convs)
    assert {op.op_type for op in q.ops if op.op_class == "quant"} <= {
        "QuantizeLinear", "DequantizeLinear"
    }  # fmt: skip


def test_fp16_precision(tmp_path: Path) -> None:
    w = numpy_helper.from_array(np.ones((4, 3, 1, 1), np.float16), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv")
    g = helper.make_graph(
        [node], "h",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, None)], [w],
    )  # fmt: skip
    p = tmp_path / "h.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), p)
    s = analyze(p)
    assert s.precision == "fp16" and s.weight_bytes == 24 and s.macs == 4 * 16 * 3


def test_tflite_counts(tiny_tflite: Path) -> None:
    s = analyze(tiny_tflite)
    assert s.format == "tflite" and s.precision == "fp32"
    assert s.params == 837 and s.weight_bytes == 837 * 4
    by_type = {op.op_type: op for op in s.ops}
    assert by_type["CONV_2D"].macs == 3888 and by_type["FULLY_CONNECTED"].macs == 720
    assert s.macs == 3888 + 720
    assert s.peak_activation_bytes > 0


def test_tflite_int8_precision(tiny_tflite_int8: Path) -> None:
    s = analyze(tiny_tflite_int8)
    assert s.format == "tflite" and s.precision == "int8"
    assert s.params == 837 and s.weight_bytes == 108 + 720 + 4 * 9
    assert s.macs == 3888 + 720
    assert all(op.precision == "int8" for op in s.ops if op.op_class in ("conv", "gemm"))


def test_op_support_lists_every_runtime(topk_onnx: Path) -> None:
    from edgekd.profile.api import profile

    rep = profile(topk_onnx, measure=False)["model"]["op_support"]
    assert set(rep) == {"litert", "onnxruntime", "tflm", "tflm-cmsis-nn"}
    assert rep["tflm"]["unsupported"] == ["TopK"]
    assert rep["onnxruntime"]["unsupported"] == [] and rep["litert"]["unsupported"] == []


def test_not_a_model(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("hello")
    with pytest.raises(ModelFileError, match="not an ONNX or TFLite model") as e:
        analyze(p)
    assert e.value.exit_code == 2
    with pytest.raises(ModelFileError, match="not found"):
        analyze(tmp_path / "missing.onnx")


def test_truncated_onnx(tiny_onnx: Path, tmp_path: Path) -> None:
    p = tmp_path / "cut.onnx"
    p.write_bytes(tiny_onnx.read_bytes()[:150])
    with pytest.raises(ModelFileError, match="cut.onnx"):
        analyze(p)


def test_truncated_tflite(tiny_tflite: Path, tmp_path: Path) -> None:
    p = tmp_path / "cut.tflite"
    p.write_bytes(tiny_tflite.read_bytes()[:400])
    with pytest.raises(ModelFileError, match="cut.tflite"):
        analyze(p)


def test_op_and_graph_precision_rules() -> None:
    from edgekd.profile.graph import OpInfo, graph_precision, kind_precision

    assert kind_precision(["fp32", "int8"]) == "int8"  # int8 weights
    assert kind_precision(["fp32", "fp16"]) == "fp16"  # fp16 weights
    assert kind_precision(["fp32", None]) == "fp32"  # int32 bias, int64 indices
    assert kind_precision([None]) == "fp32"  # a bool condition alone is not int8
    ops = [
        OpInfo("a", "ADD", "elementwise", 1, 0, 1, "fp32"),
        OpInfo("c", "CONV_2D", "conv", 9, 9, 9, "int8"),
    ]
    assert graph_precision(ops) == "int8"
    assert graph_precision(ops[:1]) == "fp32"


def test_grouped_conv_matmul_pool_macs(tmp_path: Path) -> None:
    """Grouped conv: out * (Cin/g) * k*k; MaxPool: out * window; batched MatMul: out * K."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((8, 2, 3, 3)).astype(np.float32), "w")
    m = numpy_helper.from_array(rng.standard_normal((4, 6)).astype(np.float32), "m")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], group=2, pads=[1, 1, 1, 1], name="grouped"),
        helper.make_node("MaxPool", ["c"], ["p"], kernel_shape=[2, 2], strides=[2, 2], name="pool"),
        helper.make_node("MatMul", ["p", "m"], ["y"], name="mm"),
    ]
    g = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w, m],
    )  # fmt: skip
    p = tmp_path / "g.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), p)
    by = {op.name: op for op in analyze(p).ops}
    assert by["grouped"].macs == 8 * 8 * 8 * 2 * 9 and by["grouped"].op_class == "conv"
    assert by["pool"].macs == 8 * 4 * 4 * 4 and by["pool"].op_class == "pool"
    assert by["mm"].macs == (8 * 4 * 6) * 4 and by["mm"].op_class == "gemm"


def test_qoperator_int8(big_onnx: Path, tmp_path: Path) -> None:
    """QLinearConv/QGemm graphs: int8, same params (scales and zero points are not params)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{"x": np.ones((1, 3, 16, 16), np.float32)}])

        def get_next(self) -> dict | None:
            return next(self.it, None)

    out = tmp_path / "qop.onnx"
    quantize_static(str(big_onnx), str(out), Reader(), quant_format=QuantFormat.QOperator)
    fp32, q = analyze(big_onnx), analyze(out)
    assert "QLinearConv" in q.op_types and q.precision == "int8"
    assert q.params == fp32.params
    convs = [op for op in q.ops if op.op_type == "QLinearConv"]
    assert [op.macs for op in convs] == [op.macs for op in fp32.ops if op.op_type == "Conv"]
