"""A zoo teacher trained by edgekd, cached by (teacher config, data hash)."""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from edgekd.cache import Cache
from edgekd.data.loaders import DataSplits
from edgekd.errors import RecipeError
from edgekd.fileio import sha256_file
from edgekd.models.config import TeacherConfig
from edgekd.models.files import load_zoo_weights, save_weights
from edgekd.models.zoo import build_model
from edgekd.progress import Reporter, epoch_info
from edgekd.teacher.load import Teacher, torch_teacher
from edgekd.train.loop import ProgressFn, fit


def train_or_load_teacher(
    cfg: TeacherConfig, data: DataSplits, cache: Cache, progress: ProgressFn | None = None
) -> tuple[Teacher, bool]:
    """Train the zoo teacher the recipe describes, or reuse it from the cache.

    Returns (teacher, cache_hit).
    """
    spec = {
        k: v
        for k, v in cfg.model_dump(mode="json").items()
        if k in ("arch", "width", "depth", "fit")
    }
    shape, classes = data.input_shape, data.num_classes

    def make() -> nn.Module:
        if data.train.y is None:
            raise RecipeError(
                "teacher.train: training a teacher needs labels; data.unlabeled is true"
            )
        model = build_model(cfg.arch, shape, classes, cfg.width, cfg.depth)
        fit(model, data.train, data.val, cfg.fit, progress=progress)
        return model

    def load(path: Path) -> tuple[nn.Module, Path]:
        return load_zoo_weights(path, cfg.arch, shape, classes, cfg.width, cfg.depth), path

    key = [json.dumps(spec, sort_keys=True), data.hash]
    (model, path), hit = cache.get_or_make(
        "teachers", key, make, load, save_weights, ".safetensors"
    )
    return torch_teacher(model, "zoo", sha256_file(path), path), hit


def teacher_from_config(
    cfg: TeacherConfig, data: DataSplits, cache: Cache, reporter: Reporter, where: str = "teacher"
) -> tuple[Teacher, bool, str]:
    """The teacher a recipe section names: loaded from ``path`` or trained from the zoo
    (cached). Returns (teacher, cache_hit, source: ``file`` or ``zoo``)."""
    from edgekd.teacher.load import load_teacher_file

    if cfg.path is not None:
        return load_teacher_file(cfg, data), False, "file"
    if not cfg.train:
        raise RecipeError(f"{where}: set {where}.path, or {where}.train: true")
    label = "train teacher" if where == "teacher" else f"train {where}"
    task = reporter.task(label, cfg.fit.epochs)
    try:
        teacher, hit = train_or_load_teacher(
            cfg, data, cache, progress=lambda e, n, info: task.update(e, epoch_info(info))
        )
        task.update(cfg.fit.epochs, "from cache" if hit else "")
    finally:
        task.close()
    return teacher, hit, "zoo"
