"""A zoo teacher trained by edgekd, cached by (teacher config, data hash)."""

from __future__ import annotations

import json
from pathlib import Path

from edgekd.data.loaders import DataSplits
from edgekd.distill.trainer import ProgressFn, fit, seed_everything
from edgekd.errors import RecipeError
from edgekd.fileio import sha256_bytes, sha256_file
from edgekd.models.config import TeacherConfig
from edgekd.models.files import save_weights
from edgekd.models.zoo import build_model
from edgekd.teacher.load import Teacher, torch_teacher


def trained_teacher_path(root: Path, cfg: TeacherConfig, data: DataSplits) -> Path:
    spec = json.dumps(
        {
            k: v
            for k, v in cfg.model_dump(mode="json").items()
            if k in ("arch", "width", "depth", "fit")
        },
        sort_keys=True,
    )
    key = sha256_bytes(spec.encode(), data.hash.encode())[:32]
    return root / "teachers" / f"{cfg.arch}-{key}.safetensors"


def train_or_load_teacher(
    cfg: TeacherConfig, data: DataSplits, root: Path, progress: ProgressFn | None = None
) -> tuple[Teacher, bool]:
    """Train the zoo teacher the recipe describes, or reuse it from the cache.

    Returns (teacher, cache_hit).
    """
    from safetensors.torch import load_file

    path = trained_teacher_path(root, cfg, data)
    seed_everything(cfg.fit.seed)  # the initial weights depend on the seed only
    model = build_model(cfg.arch, data.input_shape, data.num_classes, cfg.width, cfg.depth)
    hit = path.is_file()
    if hit:
        try:
            model.load_state_dict(load_file(str(path)))
        except Exception:
            hit = False  # an unreadable cache entry is retrained, never trusted
    if not hit:
        if data.train.y is None:
            raise RecipeError(
                "teacher.train: training a teacher needs labels; data.unlabeled is true"
            )
        fit(model, data.train, data.val, cfg.fit, progress=progress)
        save_weights(model, path)
    model.eval()
    return torch_teacher(model, "zoo", sha256_file(path), path), hit
