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
