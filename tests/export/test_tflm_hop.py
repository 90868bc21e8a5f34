"""TFLite Micro for real (PyPI tflite-micro): the arena edgekd reports is the one the
interpreter needs, outputs match LiteRT's, and an op TFLM lacks is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekd.errors import ModelFileError
from edgekd.export.tflm_hop import MAX_LSB, check_tflm_parity, microcontroller_hop
from edgekd.runtime.tflite_memory import memory_timeline
from edgekd.runtime.tflm import ALIGN_BYTES, allocates, measure_arena

pytest.importorskip("tflite_micro")


@pytest.fixture(params=[False, True], ids=["float-io", "int8-io"])
def int8_file(request, exported) -> Path:
    return Path(exported("int8", int8_io=request.param)["path"])


def test_arena_is_the_smallest_that_the_interpreter_allocates(int8_file):
    arena = measure_arena(int8_file)
    assert arena.ok and arena.arena_bytes % ALIGN_BYTES == 0
    assert allocates(int8_file, arena.arena_bytes)
    assert not allocates(int8_file, arena.arena_bytes - ALIGN_BYTES)
    # the allocation report: head (planned tensors) holds at least the liveness peak
    assert arena.used_bytes == arena.head_bytes + arena.tail_bytes
    assert arena.head_bytes >= memory_timeline(int8_file)["peak_bytes"]
    assert arena.used_bytes <= arena.arena_bytes
    assert {a["what"] for a in arena.allocations} >= {"TfLiteEvalTensor data"}


def test_tflm_outputs_match_litert_within_the_int8_gate(int8_file, digits):
    report = check_tflm_parity(int8_file, digits.test.x[:200])
    assert report["status"] == "pass", report["failures"]
    assert report["top1_agreement"] >= 0.97
    if report["max_lsb_diff"] is not None:  # int8 outputs: compared in quantization steps
        assert report["max_lsb_diff"] <= MAX_LSB


def test_hop_writes_the_c_array_with_the_measured_arena(int8_file, digits, tmp_path):
    hop = microcontroller_hop(int8_file, tmp_path, digits.test.x[:50])
    assert hop["parity"]["status"] == "pass"
    header = (tmp_path / "model_data.h").read_text()
    assert f"g_model_data_arena_size = {hop['arena']['arena_bytes']};" in header


def _retarget_op(src: Path, dst: Path, op_name: str) -> None:
    """Copy a .tflite with its first CONV_2D's operator code changed to ``op_name``."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(src.read_bytes()), 0)
    code = getattr(schema.BuiltinOperator, op_name)
    for oc in model.operatorCodes:
        if max(oc.builtinCode, oc.deprecatedBuiltinCode) == schema.BuiltinOperator.CONV_2D:
            oc.builtinCode, oc.deprecatedBuiltinCode = code, min(code, 127)
            break
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    dst.write_bytes(bytes(b.Output()))


def test_an_op_tflm_has_no_kernel_for_is_named(exported, tmp_path):
    bad = tmp_path / "topk.tflite"
    _retarget_op(Path(exported("int8", int8_io=True)["path"]), bad, "TOPK_V2")
    arena = measure_arena(bad)
    assert not arena.ok and arena.arena_bytes is None
    assert "TOPK_V2" in arena.unsupported_ops


def test_missing_or_foreign_file_is_a_model_file_error(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        measure_arena(tmp_path / "none.tflite")
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelFileError, match="TFL3"):
        measure_arena(junk)
