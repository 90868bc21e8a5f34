"""LM export: ONNX with past key/values and TFLite prefill/decode with a KV cache, each
checked against the torch parent with the runtime that ships it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgekd.errors import ParityError
from tests.conftest import run_cli
from tests.lm_fixtures import build_llama


def _sidecar(out):
    return json.loads((out / "edgekd_lm_export.json").read_text())


def test_export_writes_every_file_with_a_passing_gate(lm_export):
    out, _ = lm_export
    doc = _sidecar(out)
    files = doc["files"]
    assert set(files) == {
        "model.onnx",
        "model.dynamic_int8.onnx",
        "model.fp32.tflite",
        "model.dynamic_int8.tflite",
        "model.weight_int8.tflite",
    }
    for name, rec in files.items():
        assert (out / name).stat().st_size == rec["file_bytes"]
        assert rec["parity"]["status"] == "pass", rec["parity"]
        assert rec["parity"]["positions"] >= 8 * 16
    for name in ("model.onnx", "model.fp32.tflite"):
        p = files[name]["parity"]
        assert p["max_abs_diff"] <= p["tolerance"] <= 1e-3
    for name, fp32 in (
        ("model.dynamic_int8.tflite", "model.fp32.tflite"),
        ("model.weight_int8.tflite", "model.fp32.tflite"),
        ("model.dynamic_int8.onnx", "model.onnx"),
    ):
        q = files[name]
        assert q["precision"] == "int8"
        assert q["parity"]["agreement"] >= q["parity"]["min_agreement"]
        # int8 weights: the file is smaller than the float one
        assert q["file_bytes"] < files[fp32]["file_bytes"]
    # onnxruntime's dynamic quantization: int8 MatMulInteger for every constant weight
    assert files["model.dynamic_int8.onnx"]["quantized_ops"]["MatMulInteger"] >= 7 * 2
    assert files["model.fp32.tflite"]["signatures"] == ["prefill_8", "decode"]
    assert set(files["model.fp32.tflite"]["parity"]["signatures"]) == {"prefill_8", "decode"}
    assert (out / "tokenizer.json").is_file()


def test_tflite_cache_is_explicit_and_sized_by_the_model(lm_export):
    from edgekd.runtime.lm_runners import TFLiteLM

    out, _ = lm_export
    shape = _sidecar(out)["shape"]
    runner = TFLiteLM(out / "model.fp32.tflite")
    assert runner.max_context == 64
    assert len(runner.kv_names) == 2 * shape["layers"]
    k = runner.kv_shapes["kv_cache_k_0"]
    assert sorted(k) == sorted((1, shape["kv_heads"], 64, shape["head_dim"]))


def test_prefill_then_decode_matches_one_torch_pass(lm_export):
    """The cache the prefill signature writes is the one decode reads: continuing after a
    prefill gives torch's logits for the whole sequence (both runtimes)."""
    from edgekd.models.causal_lm import load_causal_lm
    from edgekd.runtime.lm_runners import OnnxLM, TFLiteLM, TorchLM

    out, model_dir = lm_export
    model, _, _ = load_causal_lm(model_dir)
    ids = [int(i) for i in np.random.default_rng(1).integers(3, 200, 20)]
    ref = TorchLM(model).logits(ids)
    for runner in (TFLiteLM(out / "model.fp32.tflite"), OnnxLM(out / "model.onnx", 128)):
        got = [runner.prefill(ids[:11])] + [runner.decode(t) for t in ids[11:]]
        assert np.max(np.abs(np.stack(got) - ref[10:])) < 1e-3


def test_parity_gate_names_the_signature_and_the_error(lm_export, tmp_path):
    """Against a different parent the gate fails: float by logits, int8 by agreement."""
    from edgekd.export.lm_parity import check_lm_parity
    from edgekd.models.causal_lm import load_causal_lm
    from edgekd.runtime.lm_runners import TFLiteLM, TorchLM

    out, _ = lm_export
    other, _, _ = load_causal_lm(build_llama(tmp_path / "other", layers=2, seed=7))
    prompts = [[5, 6, 7, 8, 9, 10, 11, 12, 13]]
    with pytest.raises(
        ParityError, match=r"signature (prefill_8|decode): logits max abs diff"
    ) as e:
        check_lm_parity(TorchLM(other), TFLiteLM(out / "model.fp32.tflite"), prompts, "fp32")
    assert e.value.exit_code == 1
    with pytest.raises(
        ParityError, match=r"greedy-token agreement .* \(lowest: signature (prefill_8|decode)"
    ):
        check_lm_parity(
            TorchLM(other),
            TFLiteLM(out / "model.dynamic_int8.tflite"),
            prompts,
            "dynamic_int8",
            min_agreement=0.99,
        )


def test_bad_lengths_and_models_exit_2(tmp_path):
    model = build_llama(tmp_path / "m", layers=1, max_positions=32)
    code, text = run_cli(
        ["export-lm", f"hf:{model}", "--out", str(tmp_path / "o"), "--cache-length", "64"]
    )
    assert code == 2 and "--cache-length 64: above the model's maximum context of 32" in text
    code, text = run_cli(
        [
            "export-lm",
            f"hf:{model}",
            "--out",
            str(tmp_path / "o"),
            "--cache-length",
            "16",
            "--prefill-length",
            "17",
        ]
    )
    assert code == 2 and "--prefill-length 17" in text
    code, text = run_cli(["export-lm", f"hf:{model}", "--precision", "int4"])
    assert code == 2 and "--precision 'int4'" in text
    code, text = run_cli(["export-lm", f"hf:{model}", "--onnx-precision", "int2"])
    assert code == 2 and "--onnx-precision 'int2': expected one of fp32, dynamic_int8" in text
    (tmp_path / "notlm").mkdir()
    (tmp_path / "notlm" / "config.json").write_text(
        json.dumps({"architectures": ["BertForMaskedLM"], "model_type": "bert"})
    )
    code, text = run_cli(["export-lm", f"hf:{tmp_path / 'notlm'}"])
    assert code == 2 and "not a causal language model" in text
    assert "Traceback" not in text


def test_onnx_only_export_of_a_config_built_model(tmp_path):
    """A directory without weights (config-built student) exports too; the CLI prints the
    gate's numbers."""
    model = build_llama(tmp_path / "m", layers=1, weights=False)
    code, text = run_cli(
        [
            "export-lm",
            f"hf:{model}",
            "--out",
            str(tmp_path / "o"),
            "--format",
            "onnx",
            "--parity-tokens",
            "4",
            "--onnx-precision",
            "fp32",
        ]
    )
    assert code == 0, text
    assert "model.onnx" in text and "parity pass: max abs diff" in text
    assert set(_sidecar(tmp_path / "o")["files"]) == {"model.onnx"}


def test_int4_weights_through_matmul_nbits(lm_export, tmp_path):
    """``weight_int4``: onnxruntime's MatMulNBits (4-bit blocks) in place of every constant
    MatMul; the file is smaller, runs in onnxruntime with the same inputs and cache, and its
    next tokens mostly follow the float file's."""
    from edgekd.export.lm_onnx_quant import quantize_lm_onnx
    from edgekd.runtime.lm_runners import OnnxLM

    out, _ = lm_export
    dst = tmp_path / "model.weight_int4.onnx"
    ops = quantize_lm_onnx(out / "model.onnx", dst, "weight_int4")
    assert ops["MatMulNBits"] >= 7 * 2 and dst.stat().st_size < (out / "model.onnx").stat().st_size
    assert ops.get("GatherBlockQuantized") == 1, ops  # the embedding table is 4-bit too
    ids = [int(i) for i in np.random.default_rng(2).integers(3, 200, 24)]
    f32, i4 = OnnxLM(out / "model.onnx", 128), OnnxLM(dst, 128)
    a = [f32.prefill(ids[:8])] + [f32.decode(t) for t in ids[8:]]
    b = [i4.prefill(ids[:8])] + [i4.decode(t) for t in ids[8:]]
    same = np.mean([np.argmax(x) == np.argmax(y) for x, y in zip(a, b, strict=True)])
    assert same >= 0.5 and np.all(np.isfinite(np.stack(b)))


def test_int4_of_a_tied_head_keeps_no_float_table(tmp_path):
    """A tied output head reads the embedding table through Transpose -> MatMul: folded into
    a constant, the head is 4-bit too and no float32 table stays beside the 4-bit one."""
    import onnx
    from onnx import numpy_helper

    from edgekd.export.lm_export import export_lm
    from edgekd.export.lm_onnx_quant import quantize_lm_onnx
    from edgekd.runtime.lm_runners import OnnxLM
    from tests.lm_fixtures import build_llama

    model = build_llama(tmp_path / "tied", layers=1, tied=True)
    out = tmp_path / "export"
    export_lm(f"hf:{model}", out, formats=("onnx",), onnx_precisions=("fp32",), new_tokens=4)
    dst = tmp_path / "model.weight_int4.onnx"
    ops = quantize_lm_onnx(out / "model.onnx", dst, "weight_int4")
    assert ops["MatMulNBits"] == 7 + 1, ops  # one layer's seven projections and the head
    assert ops.get("GatherBlockQuantized") == 1, ops
    table = onnx.load(str(out / "model.onnx")).graph.initializer
    vocab_by_hidden = max(int(np.prod(t.dims)) for t in table)
    floats = [t for t in onnx.load(str(dst)).graph.initializer if t.data_type == 1]
    assert all(numpy_helper.to_array(t).size < vocab_by_hidden for t in floats)
    ids = [int(i) for i in np.random.default_rng(3).integers(3, 200, 12)]
    f32, q = OnnxLM(out / "model.onnx", 64), OnnxLM(dst, 64)
    a = [f32.prefill(ids[:6])] + [f32.decode(t) for t in ids[6:]]
    b = [q.prefill(ids[:6])] + [q.decode(t) for t in ids[6:]]
    assert np.mean([np.argmax(x) == np.argmax(y) for x, y in zip(a, b, strict=True)]) >= 0.5


def test_a_graph_without_constant_matmul_weights_is_refused(tmp_path):
    """Nothing to quantize is an error, not a float file under an int8 name."""
    import onnx
    from onnx import TensorProto, helper

    from edgekd.errors import StageError
    from edgekd.export.lm_onnx_quant import quantize_lm_onnx

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    src = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), src)
    with pytest.raises(StageError, match="no MatMul weight was quantized"):
        quantize_lm_onnx(src, tmp_path / "q.onnx", "dynamic_int8")
    assert not (tmp_path / "q.onnx").exists()
