"""Profiling model files other toolchains make (issue 11): honest input shapes, weights in
Constant nodes and subgraphs, recurrent and control-flow MACs, precision from data tensors,
and a cross-check against the shapes onnxruntime executes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgekd.errors import UsageError
from edgekd.profile.crosscheck import executed_macs
from edgekd.profile.static import analyze
from tests.conftest import run_cli
from tests.corpus import ONNX_BUILDERS


def test_symbolic_dims_are_refused_without_a_shape(corpus) -> None:
    m = corpus("detector")
    code, out = run_cli(["profile", str(m.path), "--no-measure", "-t", "pixel-4"])
    assert code == 2
    assert "'images'" in out and "'H'" in out and "--input-shape images=1,3," in out
    assert "Traceback" not in out


def test_detector_at_the_given_shape(corpus) -> None:
    m = corpus("detector")
    args = ["profile", str(m.path), "--no-measure", "-t", "pixel-4", "--json"]
    code, out = run_cli([*args, "--input-shape", "images=1,3,640,640"])
    assert code == 0, out
    model = json.loads(out)["model"]
    assert model["input_shapes"] == {"images": [1, 3, 640, 640]}
    assert model["macs"] == m.expected["macs"] and model["params"] == m.expected["params"]
    # another size, other MACs: nothing is fixed to a default
    small = analyze(m.path, {"images": [1, 3, 320, 320]})
    assert small.macs * 4 == model["macs"]


@pytest.mark.parametrize(
    ("flag", "needle"),
    [
        ("images=1,3,x,640", "integers"),
        ("images", "NAME=D,D"),
        ("images=1,3,0,640", "positive"),
        ("image=1,3,640,640", "no input named 'image'"),
        ("images=1,3,640", "rank 4"),
        ("images=1,4,640,640", "dim 1 is fixed to 3"),
    ],
)
def test_bad_input_shapes_exit_2(corpus, flag: str, needle: str) -> None:
    m = corpus("detector")
    code, out = run_cli(["profile", str(m.path), "--no-measure", "--input-shape", flag])
    assert code == 2 and needle in out, out


def test_batch_dim_defaults_to_one_and_says_so(corpus) -> None:
    s = analyze(corpus("lstm").path)
    assert s.input_shapes == {"mfcc": [1, 49, 40]}
    assert any("batch dim" in n for n in s.shape_notes)


def test_constant_node_weights_are_counted(corpus) -> None:
    m = corpus("constant_weights")
    s, twin = analyze(m.path), analyze(m.expected["initializer_twin"])
    assert s.params == m.expected["params"] == twin.params
    assert s.weight_bytes == 4 * s.params and s.macs == m.expected["macs"] == twin.macs


def test_if_branches_weights_macs_and_precision(corpus) -> None:
    m = corpus("if_branches")
    s = analyze(m.path)
    assert s.params == m.expected["params"]  # both branches' weights are in the file
    assert s.macs == m.expected["macs"]  # the larger branch runs at most
    assert s.precision == "fp32"  # the 1-byte bool condition is not int8


def test_lstm_macs_by_formula(corpus) -> None:
    m = corpus("lstm")
    s = analyze(m.path)
    assert s.macs == m.expected["macs"] and s.params == m.expected["params"]
    assert {op.op_class for op in s.ops if op.op_type == "LSTM"} == {"gemm"}


def test_loop_body_times_trip_count(tmp_path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((8, 8), np.float32), "w")
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("MatMul", ["h_in", "w"], ["h_out"], name="body_mm"),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("h_in", TensorProto.FLOAT, [1, 8]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [1, 8]),
        ],
    )
    trip = numpy_helper.from_array(np.array(5, np.int64), "trip")
    cond = numpy_helper.from_array(np.array(True), "cond")
    g = helper.make_graph(
        [helper.make_node("Loop", ["trip", "cond", "x"], ["y"], body=body, name="loop")],
        "loop", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])], [w, trip, cond],
    )  # fmt: skip
    p = tmp_path / "loop.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), p)
    s = analyze(p)
    assert s.macs == 5 * 64 and s.params == 64
    assert executed_macs(p, {"x": np.ones((1, 8), np.float32)})["macs"] == s.macs


@pytest.mark.parametrize("name", sorted(ONNX_BUILDERS))
def test_static_count_matches_what_onnxruntime_executes(corpus, name: str) -> None:
    m = corpus(name)
    s = analyze(m.path, m.input_shapes or None)
    executed = executed_macs(m.path, m.feeds)["macs"]
    assert executed > 0
    assert abs(s.macs - executed) <= 0.05 * executed, (s.macs, executed)
    if "macs" in m.expected:
        assert s.macs == m.expected["macs"]


def test_input_shapes_in_the_api_and_the_recipe(corpus) -> None:
    from edgekd.profile.api import profile, profile_with
    from edgekd.profile.config import TargetsConfig

    m = corpus("detector")
    rep = profile(m.path, targets=["pixel-4"], measure=False, input_shapes=m.input_shapes)
    cfg = TargetsConfig(names=["pixel-4"], measure=False, input_shapes=m.input_shapes)
    assert profile_with(m.path, cfg)["model"]["macs"] == rep["model"]["macs"]
    assert rep["model"]["macs"] == m.expected["macs"]
    with pytest.raises(UsageError, match="symbolic dim"):
        profile(m.path, targets=["pixel-4"], measure=False)


def test_host_measurement_runs_at_the_given_shape(corpus) -> None:
    from edgekd.profile.measure import measure_host

    m = corpus("detector")
    host = measure_host(
        m.path, threads=1, runs=2, warmup=0, input_shapes={"images": [1, 3, 64, 96]}
    )
    assert host["input_shapes"] == {"images": [1, 3, 64, 96]}
    assert host["latency_ms"]["p50"] is not None


def test_tflite_variable_tensors_count_in_mcu_ram(corpus) -> None:
    m = corpus("tflite_variable")
    s = analyze(m.path)
    assert s.persistent_bytes == m.expected["persistent_bytes"]
    assert s.peak_activation_bytes >= s.persistent_bytes + 256 * 4  # state + a live tensor
    from edgekd.profile.api import profile

    rep = profile(m.path, targets=["nucleo-l4r5zi"], measure=False)
    assert rep["model"]["persistent_bytes"] == m.expected["persistent_bytes"]
    assert rep["targets"][0]["predicted"]["peak_ram_bytes"] >= s.peak_activation_bytes


def test_custom_op_that_litert_runs_is_not_unsupported_on_litert(corpus) -> None:
    from edgekd.profile.api import profile

    ok = profile(corpus("tflite_custom").path, targets=["pixel-4", "nucleo-l4r5zi"], measure=False)
    support = ok["model"]["op_support"]
    assert support["litert"]["unsupported"] == []  # XNNPACK (the default delegate) runs it
    assert support["tflm"]["unsupported"] == ["CUSTOM:Convolution2DTransposeBias"]
    assert [t["verdict"] for t in ok["targets"]] == ["pass", "unsupported"]
    bad = profile(corpus("tflite_unknown_custom").path, targets=["pixel-4"], measure=False)
    assert bad["model"]["op_support"]["litert"]["unsupported"] == ["CUSTOM:NoSuchOp"]
    assert bad["targets"][0]["verdict"] == "unsupported"


def test_tflite_input_shapes_and_fp16_weights(corpus) -> None:
    m = corpus("tflite_mlp_fp16")
    s = analyze(m.path, {"x": [1, 16]})
    assert s.input_shapes == {"x": [1, 16]} and s.precision == "fp16"
    assert s.params == m.expected["params"] and s.macs == m.expected["macs"]
    with pytest.raises(UsageError, match="dim 1 is fixed to 16"):
        analyze(m.path, {"x": [1, 17]})


@pytest.mark.parametrize("name", ["tflite_mlp", "tflite_mlp_fp16", "tiny_tflite"])
def test_tflite_count_matches_what_litert_allocates(corpus, request, name: str) -> None:
    from edgekd.profile.crosscheck import tflite_executed_macs

    path = request.getfixturevalue(name) if name == "tiny_tflite" else corpus(name).path
    s = analyze(path)
    executed = tflite_executed_macs(path)["macs"]
    assert executed > 0 and abs(s.macs - executed) <= 0.05 * executed, (s.macs, executed)


def test_shape_inference_leaves_no_file_behind(tmp_path, monkeypatch) -> None:
    """onnxruntime's symbolic shape inference saves ``sym_shape_infer_temp.onnx`` (and its
    external data) into the working directory when it cannot finish (an op of a custom
    domain here); none may be left there."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 4), np.float32), "w")
    g = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
            helper.make_node("Mystery", ["h"], ["y"], domain="com.example", name="custom"),
        ],
        "custom", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w],
    )  # fmt: skip
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)]
    model_dir, work = tmp_path / "m", tmp_path / "cwd"
    model_dir.mkdir()
    work.mkdir()
    path = model_dir / "custom.onnx"
    onnx.save(helper.make_model(g, opset_imports=opsets), path)
    monkeypatch.chdir(work)
    s = analyze(path)
    assert s.macs == 16 and any("symbolic shape inference failed" in n for n in s.shape_notes)
    assert list(work.iterdir()) == [] and [p.name for p in model_dir.iterdir()] == ["custom.onnx"]
