"""onnxruntime runner: batched predictions equal one-shot runs; bad files name themselves."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgekd.errors import ModelFileError
from edgekd.export.onnx_export import export_onnx
from edgekd.runtime.onnx import OnnxRunner


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 5)).eval()
    path = tmp_path_factory.mktemp("rt") / "m.onnx"
    export_onnx(model, np.zeros((1, 3, 4), np.float32), path)
    return path, model


def test_batched_predict_matches_torch_at_any_batch_size(onnx_file):
    path, model = onnx_file
    x = np.random.default_rng(0).standard_normal((37, 3, 4)).astype(np.float32)
    runner = OnnxRunner(path, threads=1)
    got = runner.predict(x, batch_size=8)  # 4 full batches and a ragged one
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(runner.run(x[:3])[runner.output_names[0]], ref[:3], atol=1e-5)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_damaged_file_is_a_model_file_error_naming_it(onnx_file, tmp_path, damage):
    data = onnx_file[0].read_bytes()
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not a model at all")
    with pytest.raises(ModelFileError, match="bad.onnx"):
        OnnxRunner(bad)
