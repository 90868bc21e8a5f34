"""Keras teachers (``teacher.model: keras:PATH``) fill the teacher-output cache; a PyTorch
student learns from them through it."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from edgekd.errors import ModelFileError, RecipeError
from tests.keras_models import digits_raw

QUICK = [
    "--set", "distill.epochs=3",
    "--set", "distill.baseline=false",
    "--set", "prune.method=none",
    "--set", "quantize.method=none",
    "--set", "export.formats=[]",
    "--set", "targets.measure=false",
]  # fmt: skip


def test_a_keras_teacher_distills_a_pytorch_student(cli, tmp_path, keras_teacher_file):
    r = cli(
        "compress", "--set", f"teacher.model=keras:{keras_teacher_file}", *QUICK,
        "--out", str(tmp_path), "--quiet",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    report = json.loads((run / "report.json").read_text())
    arts = {a["id"]: a for a in report["artifacts"]}
    teacher, student = arts["teacher"], arts["student"]
    assert (teacher["format"], student["format"]) == ("keras", "torch")
    assert (run / teacher["path"]).is_file() and teacher["params"] == 8 * 8 * 64 + 64 + 650
    # the teacher's accuracy is its cached outputs' accuracy: the Keras model itself, run by
    # TensorFlow on raw channels-last pixels (teacher.input: raw, the default)
    assert teacher["metrics"]["accuracy"] > 0.85
    assert student["metrics"]["agreement"] > 0.5  # three epochs learned from the teacher
    rows = {row["id"]: row for row in report["lineage"]}
    assert rows["teacher"]["framework"] == "keras" and rows["student"]["framework"] == "torch"


def test_teacher_outputs_are_the_keras_models_log_probabilities(tmp_path, keras_teacher_file):
    from edgekd.backends import import_tensorflow
    from edgekd.cache import Cache
    from edgekd.data.loaders import load_data
    from edgekd.models.config import TeacherConfig
    from edgekd.progress import NullReporter
    from edgekd.recipe.schema import Recipe
    from edgekd.teacher.train import teacher_from_config

    data = load_data(Recipe().data)
    cfg = TeacherConfig(model=f"keras:{keras_teacher_file}")
    teacher, hit, source = teacher_from_config(cfg, data, Cache(tmp_path), NullReporter())
    assert (source, teacher.kind, hit) == ("keras", "keras", False)
    x = data.test.x[:16]
    raw = x * np.asarray(data.preprocess["std"]) + np.asarray(data.preprocess["mean"])
    model = import_tensorflow()[1].models.load_model(keras_teacher_file)
    probs = model.predict(np.transpose(raw, (0, 2, 3, 1)), verbose=0)
    np.testing.assert_allclose(np.exp(teacher.predict(x)), probs, atol=1e-5)


def test_a_keras_file_that_will_not_load_exits_2_naming_it(cli, tmp_path):
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    r = cli("compress", "--set", f"teacher.model=keras:{bad}", "--out", str(tmp_path))
    assert r.exit_code == 2
    assert str(bad) in r.stderr and "not a loadable Keras model" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_keras_teacher_inputs_that_do_not_fit_and_families_are_refused(tmp_path):
    from edgekd.models.keras_files import input_adapter
    from edgekd.teacher.train import keras_path

    assert input_adapter((None, None, 1), (1, 8, 8), "teacher")(np.zeros((2, 1, 8, 8))).shape == (
        2, 8, 8, 1,
    )  # fmt: skip
    with pytest.raises(ModelFileError, match=r"takes inputs of shape \(28, 28, 1\); the data"):
        input_adapter((28, 28, 1), (1, 8, 8), "teacher")
    with pytest.raises(RecipeError, match="keras:cnn is an untrained Keras family"):
        keras_path("keras:cnn", "teacher")
    assert keras_path("keras:some/file.keras", "teacher") == Path("some/file.keras")
    assert digits_raw()[0].shape == (1797, 8, 8, 1)


def test_h5_savedmodel_and_keras3_teachers_give_the_same_outputs(tmp_path, keras_teacher_file):
    """The formats a Keras user saves: Keras 2 ``.h5``, a SavedModel directory, and a
    ``.keras`` written by Keras 3 (read with Keras 3; only students need Keras 2)."""
    from edgekd.backends import import_keras3, import_tensorflow
    from edgekd.cache import Cache
    from edgekd.data.loaders import load_data
    from edgekd.models.config import TeacherConfig
    from edgekd.progress import NullReporter
    from edgekd.recipe.schema import Recipe
    from edgekd.teacher.train import teacher_from_config

    model = import_tensorflow()[1].models.load_model(keras_teacher_file)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "You are saving your model as an HDF5 file")
        model.save(tmp_path / "teacher.h5")
    model.save(tmp_path / "saved", save_format="tf")
    k3 = import_keras3()
    twin = k3.Sequential(
        [k3.layers.Input((8, 8, 1)), k3.layers.Rescaling(1 / 16), k3.layers.Flatten(),
         k3.layers.Dense(64, activation="relu"), k3.layers.Dense(10, activation="softmax")]
    )  # fmt: skip
    twin.set_weights(model.get_weights())
    twin.save(tmp_path / "keras3.keras")
    data = load_data(Recipe().data)
    x, cache = data.test.x[:32], Cache(tmp_path / "cache")
    outputs = {}
    for name in ("teacher.h5", "saved", "keras3.keras"):
        cfg = TeacherConfig(model=f"keras:{tmp_path / name}")
        teacher, _, source = teacher_from_config(cfg, data, cache, NullReporter())
        outputs[name] = teacher.predict(x)
    for name, out in outputs.items():
        np.testing.assert_allclose(out, outputs["teacher.h5"], atol=1e-4, err_msg=name)
    assert outputs["teacher.h5"].argmax(1).tolist() == model.predict(
        np.transpose(x * np.asarray(data.preprocess["std"]) + np.asarray(data.preprocess["mean"]),
                     (0, 2, 3, 1)), verbose=0).argmax(1).tolist()  # fmt: skip
