"""Text classification through every stage: a tiny 2-layer BERT teacher (``hf:DIR``, built
from a config with a word-level tokenizer made from the test's texts) on a JSONL file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import run_cli
from tests.data.fixtures import labelled_texts, word_tokenizer, write_jsonl
from tests.models.tiny_hf import bert_dir


def _recipe(tmp_path, extra: str = "") -> str:
    rows = labelled_texts(30)
    data = write_jsonl(tmp_path / "texts.jsonl", rows)
    teacher = bert_dir(tmp_path / "teacher", num_labels=3, layers=2, texts=[t for t, _ in rows])
    path = tmp_path / "recipe.yaml"
    path.write_text(
        f"""
data:
  source: text
  path: {data}
  calib_samples: 8
  text: {{max_length: 12}}
teacher:
  model: hf:{teacher}
  train: true
  fit: {{epochs: 20, lr: 0.003, batch_size: 8}}
student:
  init_from_teacher: {{layers: [0]}}
distill: {{epochs: 4, batch_size: 8, lr: 0.001, baseline: false}}
prune: {{method: none}}
quantize: {{method: static, calib_samples: 8, max_accuracy_drop: 100}}
export:
  formats: [onnx, tflite]
  tflite: {{precision: [fp32, int8], calib_samples: 8, min_top1_agreement: 0.5}}
targets: {{names: [pixel-4], measure: false}}
output: {{dir: {tmp_path / "runs"}, cache_dir: {tmp_path / "cache"}}}
{extra}"""
    )
    return str(path)


@pytest.mark.slow
def test_hf_text_teacher_on_jsonl_runs_compress_end_to_end(tmp_path):
    code, out = run_cli(["compress", _recipe(tmp_path), "--quiet"])
    assert code == 0, out[-3000:]
    (run,) = (tmp_path / "runs").iterdir()
    report = json.loads((run / "report.json").read_text())
    arts = {a["id"]: a for a in report["artifacts"]}
    assert {"teacher", "student", "student-onnx", "student-onnx-int8"} <= set(arts)
    assert any(a.startswith("student-tflite-int8") for a in arts)
    for art in arts.values():  # every artifact evaluated by its own runtime on the test split
        assert 0.0 <= art["metrics"]["accuracy"] <= 1.0
    assert arts["teacher"]["metrics"]["accuracy"] > 0.6  # 3 classes: chance is 1/3
    pre = json.loads((run / "preprocess.json").read_text())
    assert pre["kind"] == "text" and pre["inputs"][0] == {
        "name": "input_ids", "dtype": "int64", "shape": [12],
    }  # fmt: skip
    assert (run / "tokenizer" / "tokenizer.json").is_file()
    # the ONNX file takes int64 token ids with dynamic batch and sequence axes
    import onnx

    graph = onnx.load(str(run / "student.onnx")).graph
    inputs = {i.name: i.type.tensor_type for i in graph.input}
    assert set(inputs) == {"input_ids", "attention_mask"}
    dims = [d.dim_param or d.dim_value for d in inputs["input_ids"].shape.dim]
    assert inputs["input_ids"].elem_type == onnx.TensorProto.INT64 and dims == ["batch", "sequence"]
    # profiled with the real input signature
    prof = next(p for p in report["profiles"] if p["artifact"] == "student-onnx")
    assert prof["model"]["input_shapes"] == {"input_ids": [1, 12], "attention_mask": [1, 12]}
    manifest = json.loads((run / "manifest.json").read_text())
    outputs = next(a for a in manifest["artifacts"] if a["id"] == "teacher-outputs")
    assert outputs["extra"]["bytes_on_disk"] > 0 and outputs["extra"]["shards"] >= 3
    # the shipped int8 TFLite file agrees with what LiteRT computes on the saved preprocessing
    from edgekd.runtime.litert import TfliteRunner

    tfl = next(a for a in arts if a.startswith("student-tflite-int8"))
    ids = np.zeros((2, 12), np.int64)
    ids[:, 0] = 2
    out = TfliteRunner(run / arts[tfl]["path"]).predict(
        {"input_ids": ids, "attention_mask": (ids > 0).astype(np.int64)}
    )
    assert out.shape == (2, 3)


@pytest.mark.slow
def test_student_tokenizer_that_splits_texts_differently_is_refused(tmp_path):
    rows = labelled_texts(30)
    other = word_tokenizer(["nothing in common here"], tmp_path / "other")
    recipe = _recipe(tmp_path)
    text = (
        open(recipe)
        .read()
        .replace("text: {max_length: 12}", f"text: {{max_length: 12, tokenizer: {other}}}")
    )
    text = text.replace("init_from_teacher: {layers: [0]}", "model: zoo:mlp")
    open(recipe, "w").write(text)
    assert rows
    code, out = run_cli(["compress", recipe])
    assert code == 2, out[-2000:]
    assert "data.text.tokenizer: the student's tokenizer" in out
    assert "split the training text" in out and "Traceback" not in out
