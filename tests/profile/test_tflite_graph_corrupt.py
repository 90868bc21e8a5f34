"""Flatbuffers that parse but point outside their own tables (found by fuzzing): exit 2 from
``edgekd profile`` naming the file, where it used to be exit 1 with an IndexError."""

from __future__ import annotations

import json
from pathlib import Path

import flatbuffers
import pytest
from ai_edge_litert import schema_py_generated as schema

from edgekd.profile.static import analyze
from tests.conftest import run_cli
from tests.fuzz.harness import tflite_model


def rewrite(src: Path, dst: Path, edit) -> Path:  # noqa: ANN001
    model = schema.ModelT.InitFromPackedBuf(bytearray(src.read_bytes()), 0)
    edit(model)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    dst.write_bytes(bytes(builder.Output()))
    return dst


@pytest.fixture(scope="module")
def valid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tflite_model(tmp_path_factory.mktemp("tfl") / "m.tflite")


def set_input(model, value: int) -> None:  # noqa: ANN001
    model.subgraphs[0].operators[1].inputs[0] = value


def set_opcode(model, value: int) -> None:  # noqa: ANN001
    model.subgraphs[0].operators[0].opcodeIndex = value


def set_graph_output(model, value: int) -> None:  # noqa: ANN001
    model.subgraphs[0].outputs[0] = value


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda m: set_input(m, 8388611), "operator 1 refers to tensor 8388611, but the subgraph"),
        (lambda m: set_opcode(m, 7), "operator 0 uses operator code 7 of 3"),
        (lambda m: set_graph_output(m, 40), "a subgraph input/output refers to tensor 40"),
    ],
    ids=["tensor-index", "opcode-index", "graph-output"],
)
def test_out_of_range_indices_exit_2(valid, tmp_path, edit, expected):
    bad = rewrite(valid, tmp_path / "bad.tflite", edit)
    code, out = run_cli(["profile", str(bad), "--no-measure", "--json"])
    assert code == 2 and f"error: {bad}: not a valid TFLite model" in out and expected in out, out


def test_undecodable_tensor_name_is_profiled(valid, tmp_path):
    def edit(model) -> None:  # noqa: ANN001
        model.subgraphs[0].tensors[0].name = b"in\xff\xfeput"

    bad = rewrite(valid, tmp_path / "name.tflite", edit)
    code, out = run_cli(["profile", str(bad), "--no-measure", "--json"])
    assert code == 0 and json.loads(out)["model"]["format"] == "tflite", out
    assert analyze(bad).input_shapes == {"in\ufffd\ufffdput": [1, 8, 8, 1]}
