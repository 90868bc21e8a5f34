"""The ``distill`` and ``baseline`` passes of a Keras student (``student.model: keras:...``).

The student is a built-in family (``keras:cnn``, ``keras:mlp``: ``models.keras_zoo``) or a
Keras 2 file (``keras:PATH``); it learns from the teacher's cached logits (any teacher: torch,
ONNX, scikit-learn or Keras) with the Keras distillation ``train_step`` of
``distill.keras_kd``, and is written as ``student.keras`` (a Keras artifact).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekd.artifact import Artifact, Role
from edgekd.errors import ModelFileError
from edgekd.passes import Services

if TYPE_CHECKING:
    from edgekd.data.loaders import DataSplits
    from edgekd.distill.keras_kd import KerasData
    from edgekd.recipe.schema import Recipe
    from edgekd.train.loop import History


def run(inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services) -> list[Artifact]:
    from edgekd.distill.keras_kd import fit_keras

    d = cfg.distill
    student = build_student(cfg, env.data)
    task = env.reporter.task("distill (Keras)", d.epochs)
    try:
        hist = fit_keras(student, keras_data(inputs, run_dir, env.data), d, d.temperature, d.alpha)
        task.update(d.epochs, f"val {hist.best_val_accuracy:.3f}")
    finally:
        task.close()
    return [save_student(student, cfg, run_dir, "student", "student", "distill", "teacher", hist)]


def run_baseline(
    inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services
) -> list[Artifact]:
    """The same student trained on labels alone (alpha = 1), for comparison."""
    from edgekd.distill.keras_kd import fit_keras

    d = cfg.distill
    student = build_student(cfg, env.data)
    task = env.reporter.task("baseline (Keras)", d.epochs)
    try:
        hist = fit_keras(student, keras_data(inputs, run_dir, env.data), d, d.temperature, 1.0)
        task.update(d.epochs)
    finally:
        task.close()
    return [save_student(student, cfg, run_dir, "baseline", "baseline", "baseline", None, hist)]


def keras_data(inputs: list[Artifact], run_dir: Path, data: DataSplits) -> KerasData:
    """The train split with its labels and cached teacher logits, and the val split."""
    from edgekd.distill.keras_kd import KerasData
    from edgekd.teacher.stage import logits_of

    assert data.train.y is not None and data.val.y is not None  # preflight: labeled data
    teacher = np.asarray(logits_of(inputs, run_dir)["train"], np.float32)
    return KerasData(data.train.x, data.train.y, teacher, data.val.x, data.val.y)


def build_student(cfg: Recipe, data: DataSplits) -> Any:
    """A fresh built-in Keras student, or the Keras 2 model in ``student.model``'s file,
    checked to take the data's inputs and give its class count."""
    from edgekd.models.keras_files import load_keras
    from edgekd.models.keras_zoo import KERAS_ZOO, build_keras

    s = cfg.student
    assert s.model is not None
    name = s.model.partition(":")[2].strip()
    shape = tuple(data.input_shape)
    if name in KERAS_ZOO:
        return build_keras(name, shape, data.num_classes, s.width, s.depth, cfg.distill.seed)
    model = load_keras(Path(name), "student.model", keras2_only=True)
    got_in, got_out = tuple(model.input_shape[1:]), model.output_shape[-1]
    if got_in != shape or got_out != data.num_classes:
        raise ModelFileError(
            f"student.model: {name} takes {got_in} and gives {got_out} outputs; the data needs "
            f"inputs {shape} (edgekd's layout: images channels-first) and {data.num_classes} "
            "logits"
        )
    return model


def save_student(
    model: Any,
    cfg: Recipe,
    run_dir: Path,
    art_id: str,
    role: Role,
    stage: str,
    parent: str | None,
    history: History | None = None,
    extra: dict[str, Any] | None = None,
    suffix: str = ".keras",
) -> Artifact:
    """``<art_id>.keras`` (or ``suffix``) as a Keras artifact (made by ``keras``)."""
    from edgekd.models.keras_files import save_keras
    from edgekd.models.keras_zoo import keras_macs

    path = run_dir / f"{art_id}{suffix}"
    save_keras(model, path)
    info: dict[str, Any] = {"framework": "keras", "keras_model": cfg.student.model}
    if history is not None:
        info["history"] = history.to_dict()
    art = Artifact(
        id=art_id,
        role=role,
        stage=stage,
        format="keras",
        precision="fp32",
        path=path.name,
        parent=parent,
        params=int(model.count_params()),
        macs=keras_macs(model),
        extra={**info, **(extra or {})},
    )
    return art.stamp(run_dir)
