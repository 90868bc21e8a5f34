import numpy as np
import onnx
import pytest
import torch

from edgekd.errors import ParityError
from edgekd.export.onnx_export import check_onnx_parity, export_onnx
from edgekd.export.parity import compare_outputs, raise_on_failure
from edgekd.models.zoo import build_model


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model("cnn", (1, 8, 8), 10, 4, 2).eval()


def test_export_has_a_dynamic_batch_axis_and_passes_parity(tmp_path, model):
    x = np.random.default_rng(0).normal(size=(7, 1, 8, 8)).astype(np.float32)
    result = export_onnx(model, x[:1], tmp_path / "m.onnx", opset=17, parity_x=x)
    path = result.path
    # the export checked itself on 7 rows, not on the 1 it was traced with
    assert result.parity.status == "pass" and result.parity.batch_size == 7
    graph = onnx.load(str(path))
    assert graph.opset_import[0].version == 17
    assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    report = check_onnx_parity(model, path, x, atol=1e-4, rtol=1e-3)
    assert report.status == "pass" and report.batch_size == 7 and report.max_abs_diff < 1e-4
    assert not list(tmp_path.glob("*.part"))


def test_parity_failure_names_output_diff_and_tolerance(tmp_path, model):
    x = np.random.default_rng(0).normal(size=(5, 1, 8, 8)).astype(np.float32)
    path = export_onnx(model, x[:1], tmp_path / "m.onnx").path
    with torch.no_grad():  # the parent changes after export: the file no longer matches it
        model.classifier.bias += 0.5
    report = check_onnx_parity(model, path, x, atol=1e-4, rtol=1e-3)
    assert report.status == "fail" and report.max_abs_diff == pytest.approx(0.5, abs=1e-3)
    with pytest.raises(
        ParityError, match=r"output 'logits': max abs diff 0.5 exceeds atol=0.0001, rtol=0.001"
    ) as e:
        raise_on_failure(report, "m.onnx")
    assert e.value.exit_code == 1


def test_shape_mismatch_and_missing_outputs_are_collected():
    ref = {"a": np.zeros((2, 3)), "b": np.zeros((2, 2))}
    report = compare_outputs(ref, {"a": np.zeros((2, 4))}, atol=1e-5, rtol=0)
    assert report.status == "fail"
    assert any("shape (2, 4) != expected (2, 3)" in f for f in report.failures)
    assert any("'b' is missing" in f for f in report.failures)


def test_top1_agreement_gate_for_int8():
    ref = {"y": np.eye(4)}
    cand = {"y": np.eye(4)[[0, 1, 2, 0]] + 0.2}
    assert compare_outputs(ref, cand, 0, 0, min_top1_agreement=0.75).status == "pass"
    failed = compare_outputs(ref, cand, 0, 0, min_top1_agreement=0.9)
    assert (
        failed.status == "fail" and "top-1 agreement 0.7500 < required 0.9000" in failed.failures[0]
    )
