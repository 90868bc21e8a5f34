"""LiteRT runner: batch handling, op types, and bad files (exit 2, naming the file)."""

from __future__ import annotations

import numpy as np
import pytest

from edgekd.errors import ModelFileError
from edgekd.runtime.litert import TfliteRunner, tflite_op_types


def test_any_batch_size_matches_one_by_one(exported, digits):
    runner = TfliteRunner(exported("fp32")["path"])
    x = digits.test.x[:7]
    whole = runner.predict(x)
    single = np.concatenate([runner.predict(x[i : i + 1]) for i in range(7)])
    np.testing.assert_array_equal(whole, single)
    assert runner.predict(x[:0]).shape == (0, 10)


def test_op_types_come_from_the_file(exported):
    ops = tflite_op_types(exported("fp32")["path"])
    assert {"CONV_2D", "FULLY_CONNECTED"} <= set(ops) and "DELEGATE" not in ops
    int8_ops = tflite_op_types(exported("int8")["path"])
    assert int8_ops[0] == "QUANTIZE" and int8_ops[-1] == "DEQUANTIZE"
    assert "QUANTIZE" not in tflite_op_types(exported("int8", int8_io=True)["path"])


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "empty"])
def test_bad_tflite_file_is_a_model_file_error(exported, tmp_path, damage):
    good = open(exported("fp32")["path"], "rb").read()
    data = {
        "truncated": good[: len(good) // 2],
        "corrupt": b"\x00" * 8 + good[8:64] + b"garbage" * 20,
        "empty": b"",
    }[damage]
    bad = tmp_path / f"{damage}.tflite"
    bad.write_bytes(data)
    with pytest.raises(ModelFileError) as info:
        TfliteRunner(bad)
    assert info.value.exit_code == 2 and str(bad) in str(info.value)
    with pytest.raises(ModelFileError):
        tflite_op_types(bad)


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        TfliteRunner(tmp_path / "nope.tflite")


def test_dynamic_batch_file_is_resized_not_looped(tmp_path):
    import flatbuffers
    import torch

    from edgekd.export.tflite_export import export_tflite
    from edgekd.runtime.litert import read_model

    model = torch.nn.Linear(8, 4).eval()
    path = tmp_path / "fc.tflite"
    export_tflite(model, np.zeros((1, 8), np.float32), path)
    # mark the batch dimension dynamic (-1), as converters with dynamic shapes write it
    fb = read_model(path)
    graph = fb.subgraphs[0]
    for t in list(graph.inputs) + list(graph.outputs):
        tensor = graph.tensors[t]
        tensor.shapeSignature = np.array([-1, *tensor.shape[1:]], np.int32)
    builder = flatbuffers.Builder(1024)
    builder.Finish(fb.Pack(builder), file_identifier=b"TFL3")
    dynamic = tmp_path / "fc_dynamic.tflite"
    dynamic.write_bytes(bytes(builder.Output()))
    runner = TfliteRunner(dynamic)
    assert runner.dynamic_batch
    x = np.random.default_rng(0).standard_normal((7, 8)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(runner.predict(x), expected, atol=1e-5)
    assert runner.interpreter.get_input_details()[0]["shape"][0] == 7  # one resized invoke
    np.testing.assert_allclose(runner.predict(x[:3]), expected[:3], atol=1e-5)


def test_no_runtime_names_the_extra(exported, monkeypatch):
    import sys

    from edgekd.errors import MissingBackendError

    # None in sys.modules makes the import fail, as if the package were not installed
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    monkeypatch.setitem(sys.modules, "tflite_runtime", None)
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", None)
    with pytest.raises(MissingBackendError, match=r'pip install "edgekd\[tflite\]"') as info:
        TfliteRunner(exported("fp32")["path"])
    assert info.value.exit_code == 2
