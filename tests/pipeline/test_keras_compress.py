"""The Keras path end to end: one ``edgekd compress`` run distills a Keras student from a
PyTorch teacher through the cache, prunes it to 75% with TFMOT (stripped, zipped size),
QATs it (pruning-preserving), converts it to full-int8 TFLite with int8 I/O, gates, evaluates
and profiles it (with the TFLite Micro hop for the microcontroller target)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.keras_models import save_keras_student

RECIPE = """
teacher: {width: 8, fit: {epochs: 3}}
student: {model: keras:cnn, width: 16, depth: 2}
distill: {epochs: 4, lr: 0.01, baseline: false}
prune:
  method: unstructured
  sparsity: 0.75
  fine_tune: {epochs: 3, lr: 0.005}
quantize: {method: qat, qat: {epochs: 2, lr: 0.0005}}
export:
  formats: [tflite, onnx]
  tflite: {precision: [fp32, int8], int8_io: true}
targets: {measure: false}
"""


@pytest.fixture(scope="module")
def keras_run(tmp_path_factory):
    from tests.conftest import invoke

    out = tmp_path_factory.mktemp("runs")
    recipe = out / "keras.yaml"
    recipe.write_text(RECIPE)
    r = invoke("compress", str(recipe), "--out", str(out), "--quiet")
    assert r.exit_code == 0, r.stderr
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run, json.loads((run / "report.json").read_text())


def test_keras_student_pruned_to_75_percent_by_tfmot_and_qat_keeps_the_zeros(keras_run):
    run, report = keras_run
    arts = {a["id"]: a for a in report["artifacts"]}
    manifest = {a["id"]: a for a in json.loads((run / "manifest.json").read_text())["artifacts"]}
    assert [arts[i]["format"] for i in ("teacher", "student", "student-pruned")] == [
        "torch", "keras", "keras",
    ]  # fmt: skip
    prune = manifest["student-pruned"]["extra"]["prune"]
    assert prune["target_sparsity"] == 0.75 and abs(prune["sparsity"] - 0.75) < 0.02
    # strip_pruning leaves a plain model with zeros: smaller only when compressed
    assert prune["zipped_bytes"] < prune["parent_zipped_bytes"]
    assert prune["stripped_bytes"] == arts["student-pruned"]["file_bytes"]
    qat = manifest["student-qat"]["extra"]["qat"]
    assert qat["scheme"].startswith("pruning-preserving") and qat["sparsity"] >= 0.74
    assert arts["student-qat"]["parent"] == "student-pruned"
    # learned from the teacher in a few epochs (10 classes: chance is 0.1)
    assert arts["student"]["metrics"]["accuracy"] > 0.6
    assert arts["student"]["metrics"]["agreement"] > 0.6


def test_full_int8_tflite_from_the_qat_student_passes_its_gates_and_is_profiled(keras_run):
    run, report = keras_run
    arts = {a["id"]: a for a in report["artifacts"]}
    int8 = arts["student-tflite-int8-io"]
    assert int8["parent"] == "student-qat" and arts["student-tflite-fp32"]["parent"] == (
        "student-pruned"
    )
    assert int8["parity"]["status"] == "pass" and int8["runtime"] == "litert"
    meta = json.loads((run / "manifest.json").read_text())
    tfl = next(a for a in meta["artifacts"] if a["id"] == int8["id"])["extra"]["tflite"]
    assert tfl["input"]["dtype"] == "int8" and tfl["output"]["dtype"] == "int8"
    assert tfl["converter"].startswith("tf.lite.TFLiteConverter")
    assert tfl["tflm"]["parity"]["status"] == "pass" and (run / "model_data.cc").is_file()
    # LiteRT's int8 file agrees with the QAT model it came from (evaluated on the test split)
    assert abs(int8["metrics"]["accuracy"] - arts["student-qat"]["metrics"]["accuracy"]) < 0.05
    assert int8["file_bytes"] < arts["student-tflite-fp32"]["file_bytes"]
    profiled = {p["artifact"]: p for p in report["profiles"]}
    assert set(profiled) == {"student-onnx", "student-tflite-fp32", "student-tflite-int8-io"}
    onnx = arts["student-onnx"]  # tf2onnx, run by onnxruntime: the pruned student's numbers
    assert onnx["parity"]["status"] == "pass" and onnx["runtime"] == "onnxruntime"
    assert onnx["metrics"]["accuracy"] == arts["student-pruned"]["metrics"]["accuracy"]
    verdicts = {t["name"]: t["verdict"] for t in profiled[int8["id"]]["targets"]}
    assert set(verdicts) == {"pixel-4", "rpi-4", "nano-33-ble"}
    assert set(verdicts.values()) <= {"pass", "fail"}
    made_by = {row["id"]: row["framework"] for row in report["lineage"]}
    assert made_by["teacher"] == "torch" and made_by["student-qat"] == "keras"
    assert made_by[int8["id"]] == "tensorflow" and made_by["student-onnx"] == "tf2onnx"
    assert "tflite int8 (tensorflow)" in (run / "report.md").read_text()


def test_a_layer_tfmot_cannot_quantize_exits_2_naming_it_before_training(cli, tmp_path):
    student = save_keras_student(tmp_path / "student.keras", layer_norm=True)
    r = cli(
        "compress", "--set", f"student.model=keras:{student}", "--set", "prune.method=none",
        "--set", "quantize.method=qat", "--set", "export.formats=[tflite]",
        "--set", "teacher.width=8", "--set", "teacher.fit.epochs=3",
        "--out", str(tmp_path), "--quiet",
    )  # fmt: skip
    assert r.exit_code == 2, r.stderr
    assert "layer 'norm' (LayerNormalization)" in r.stderr and "quantize_model" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    manifest = next(tmp_path.glob("*/manifest.json"))
    assert "student" not in {a["id"] for a in json.loads(manifest.read_text())["artifacts"]}


def test_torch_only_settings_are_refused_for_a_keras_student(cli, tmp_path):
    r = cli("compress", "--set", "student.model=keras:cnn", "--out", str(tmp_path))
    assert r.exit_code == 2 and "prune.method: structured" in r.stderr
    r = cli(
        "compress", "--set", "student.model=keras:cnn", "--set", "prune.method=none",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert r.exit_code == 2 and "quantize.method: static is edgekd's ONNX" in r.stderr
    assert not list(tmp_path.iterdir())  # refused before a run directory exists


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("prune.layers={c1: 0.5}", "prune.layers: per-layer sparsity overrides are torch-only"),
        ("prune.importance=taylor", "prune.importance: taylor is torch-only"),
        ("prune.steps=3", "prune.steps / prune.initial_sparsity (3 / 0.0)"),
    ],
)
def test_torch_only_prune_settings_are_refused_not_ignored(cli, tmp_path, setting, message):
    r = cli(
        "compress", "--set", "student.model=keras:cnn", "--set", "prune.method=unstructured",
        "--set", "quantize.method=none", "--set", setting, "--out", str(tmp_path),
    )  # fmt: skip
    assert r.exit_code == 2 and message in r.stderr, r.stderr
    assert not list(tmp_path.iterdir())


def test_export_cli_converts_a_keras_file_and_refuses_a_mismatched_representative_set(
    cli, tmp_path
):
    student = save_keras_student(tmp_path / "student.keras")
    rng = np.random.default_rng(0)
    good, bad = tmp_path / "calib.npz", tmp_path / "flat.npz"
    np.savez(good, x=rng.normal(size=(64, 1, 8, 8)).astype(np.float32))
    np.savez(bad, x=rng.normal(size=(64, 64)).astype(np.float32))
    out = tmp_path / "student.int8.tflite"
    args = ["export", str(student), "--precision", "int8", "--int8-io", "--out", str(out)]
    r = cli(*args, "--calib", str(good))
    assert r.exit_code == 0, r.stderr
    assert "parity vs Keras" in r.stdout and "input" in r.stdout and "int8" in r.stdout
    r = cli("export", str(student), "--format", "onnx", "--out", str(tmp_path / "s.onnx"))
    assert r.exit_code == 0 and "tf2onnx" in r.stdout and "pass" in r.stdout, r.stderr
    r = cli(*args, "--calib", str(bad))
    assert r.exit_code == 2
    assert str(bad) in r.stderr and "shape (64, 64)" in r.stderr and "(N, 1, 8, 8)" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_keras3_student_file_exits_2_naming_it(cli, tmp_path):
    """TFMOT wraps Keras 2 models only: a student saved by Keras 3 is refused, with the fix."""
    from edgekd.backends import import_keras3

    k3 = import_keras3()
    path = tmp_path / "k3.keras"
    k3.Sequential([k3.layers.Input((1, 8, 8)), k3.layers.Flatten(), k3.layers.Dense(10)]).save(path)
    r = cli(
        "compress", "--set", f"student.model=keras:{path}", "--set", "prune.method=none",
        "--set", "quantize.method=none", "--set", "export.formats=[tflite]",
        "--set", "teacher.width=8", "--set", "teacher.fit.epochs=3",
        "--out", str(tmp_path), "--quiet",
    )  # fmt: skip
    assert r.exit_code == 2
    assert str(path) in r.stderr and "saved by Keras 3" in r.stderr and "tf_keras" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
