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
