"""A Keras teacher (``teacher.model: keras:PATH``): a ``.keras``/``.h5`` file or a SavedModel
directory run by TensorFlow to fill the same teacher-output cache as any other teacher, so a
Keras teacher distills a PyTorch student (and the other way round): the cache is the boundary.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgekd.errors import RecipeError
from edgekd.fileio import sha256_bytes, sha256_file

if TYPE_CHECKING:
    from edgekd.data.loaders import DataSplits
    from edgekd.models.config import TeacherConfig
    from edgekd.teacher.load import Teacher


def path_identity(path: Path) -> str:
    """sha256 of a file, or of a directory's files with their relative paths (a SavedModel)."""
    if path.is_file():
        return sha256_file(path)
    files = sorted(f for f in path.rglob("*") if f.is_file())
    return sha256_bytes(*(f"{f.relative_to(path)}:{sha256_file(f)}".encode() for f in files))


def keras_teacher(path: Path, cfg: TeacherConfig, data: DataSplits, where: str) -> Teacher:
    """The Keras model at ``path`` as a teacher. Its inputs are edgekd's (channels-first
    images are fed channels-last when the model wants that); ``teacher.input: raw`` (the
    default for a loaded teacher) undoes edgekd's normalization first. Softmax outputs are
    turned into log-probabilities, which serve as logits (as for scikit-learn teachers)."""
    from edgekd.models.keras_files import input_adapter, load_keras, model_input_shape
    from edgekd.teacher.load import Teacher, _with_raw_inputs, check_class_count

    if cfg.train:
        raise RecipeError(f"{where}.train: a keras: teacher is used as loaded; drop train: true")
    if cfg.weights is not None:
        raise RecipeError(f"{where}.weights: a keras: model file carries its own weights")
    model = load_keras(path, f"{where}.model")
    adapt = input_adapter(model_input_shape(model), tuple(data.teacher_input_shape), where)

    def run(x: np.ndarray) -> np.ndarray:
        out = np.asarray(model.predict(adapt(np.asarray(x, np.float32)), verbose=0), np.float32)
        if out.ndim == 2 and _probabilities(out):
            return np.log(np.clip(out, 1e-7, 1.0))
        return out

    params = model.count_params()
    teacher = Teacher("keras", path_identity(path), path, run, params=params)
    teacher.info = {"model": f"keras:{path}", "framework": "keras", "trained": False}
    if cfg.input == "raw":
        teacher = _with_raw_inputs(teacher, data)
    check_class_count(teacher, data)
    return teacher


def _probabilities(out: np.ndarray) -> bool:
    """Rows that are probability distributions (a softmax head), not logits."""
    return bool(out.size) and out.min() >= 0 and np.allclose(out.sum(1), 1.0, atol=1e-3)
