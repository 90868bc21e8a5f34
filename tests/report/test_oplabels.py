"""Op labels in the top-ops plot: op type, ordinal and module path, never a raw tensor path."""

from __future__ import annotations

import pytest

from edgekd.report.oplabels import module_path, op_label, shorten
from tests.report.conftest import TFLITE_OP_NAMES


@pytest.mark.parametrize(
    ("name", "op_type", "label"),
    [
        ("/features/block1/conv/Conv", "Conv", "Conv #2 (features.block1.conv)"),
        ("/classifier/Gemm", "Gemm", "Gemm #2 (classifier)"),
        ("/features/block0/act/Relu_output_0_QuantizeLinear", "QuantizeLinear",
         "QuantizeLinear #2 (features.block0.act)"),
        ("input_QuantizeLinear", "QuantizeLinear", "QuantizeLinear #2 (input)"),
        ("Conv_12", "Conv", "Conv #2"),  # an exporter's default name says nothing more
        ("fc", "Gemm", "Gemm #2 (fc)"),
        (*TFLITE_OP_NAMES[0], "CONV_2D #2 (features.block1)"),  # fused: the common prefix
        (*TFLITE_OP_NAMES[1], "MAX_POOL_2D #2 (features.block0.pool)"),
        (*TFLITE_OP_NAMES[2], "MEAN #2 (pool)"),
        (*TFLITE_OP_NAMES[3], "FULLY_CONNECTED #2"),
    ],
)  # fmt: skip
def test_op_label(name: str, op_type: str, label: str) -> None:
    assert op_label({"name": name, "op_type": op_type, "nth": 2}) == label


def test_label_without_ordinal_and_long_paths_are_shortened() -> None:
    assert op_label({"name": "/a/b/Conv", "op_type": "Conv"}) == "Conv (a.b)"
    long = "backbone.stages.3.blocks.11.attention.proj"
    assert shorten(long, 28) == "…3.blocks.11.attention.proj"
    assert len(shorten("x" * 50, 28)) == 28
    assert module_path("StatefulPartitionedCall:0", "ADD") == ""


def test_profile_reports_the_ordinal(tmp_path) -> None:
    """``top_ops[].nth`` counts ops of the same type in execution order."""
    import onnx

    from edgekd.profile.api import profile
    from tests.profile.conftest import tiny_graph

    path = tmp_path / "tiny.onnx"
    onnx.save(tiny_graph(), path)
    ops = profile(str(path), targets=["nucleo-l4r5zi"], measure=False)["targets"][0]["top_ops"]
    convs = {o["name"]: o["nth"] for o in ops if o["op_type"] == "Conv"}
    assert convs == {"conv": 1, "dw": 2}
