"""A teacher built from the recipe's ``teacher.model`` (or zoo ``arch``): loaded from local
weights and used as it is, or trained (fine-tuned) here; either way kept in the cache by
(model spec, weights, training config, data hash), so a rerun loads it.
"""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from edgekd.cache import Cache
from edgekd.data.loaders import DataSplits
from edgekd.errors import RecipeError
from edgekd.fileio import sha256_bytes, sha256_file
from edgekd.models.config import TeacherConfig
from edgekd.models.create import Created, create_model, model_spec
from edgekd.models.files import save_weights
from edgekd.models.spec import ModelSpec, build
from edgekd.progress import Reporter, epoch_info
from edgekd.teacher.load import Teacher, torch_teacher
from edgekd.train.loop import ProgressFn, fit, seed_everything


def weights_identity(cfg: TeacherConfig, spec: ModelSpec) -> str:
    """What the starting weights are, as a hash: the weights file, the ``hf:DIR`` files,
    the library's cached weights, a ``module:`` file's code."""
    parts: list[bytes] = []
    if cfg.weights is not None:
        parts.append(sha256_file(Path(cfg.weights)).encode())
    if cfg.pretrained:
        parts.append(f"pretrained:{spec.label}".encode())
    if spec.source == "hf":
        d = Path(spec.name)
        parts += [
            f.name.encode() + sha256_file(f).encode() for f in sorted(d.iterdir()) if f.is_file()
        ]
    if spec.source == "module":
        parts.append(sha256_file(Path(spec.name.rpartition(":")[0])).encode())
    return sha256_bytes(*parts) if parts else ""


def train_or_load_teacher(
    cfg: TeacherConfig,
    data: DataSplits,
    cache: Cache,
    progress: ProgressFn | None = None,
    where: str = "teacher",
) -> tuple[Teacher, bool, bool]:
    """The teacher ``cfg`` describes, from the cache or made now. Returns (teacher,
    cache_hit, trained): trained when ``teacher.train`` is true, or unset and the model has no
    trained classifier for the data's classes."""
    spec = model_spec(cfg, where, data.teacher_input_shape, data.num_classes)
    zoo_plain = spec.source == "zoo" and cfg.weights is None
    created: Created | None = None
    if zoo_plain:
        train = cfg.train is not False
    else:
        seed_everything(cfg.fit.seed)  # a re-initialized head depends on the seed only
        created = create_model(cfg, where, data.teacher_input_shape, data.num_classes)
        train = cfg.train if cfg.train is not None else not created.trained_head
    if not train and (created is None or not created.trained_head):
        loaded = created is not None and created.info.get("weights_from")
        reason = "its head was re-initialized for this data" if loaded else "no weights"
        raise RecipeError(
            f"{where}.train: false, but {spec.label} has no trained classifier for the data's "
            f"{data.num_classes} classes ({reason}); set {where}.train: true, or {where}.path / "
            f"{where}.weights to a trained model"
        )
    if zoo_plain:  # the key zoo teachers always had: cached teachers stay valid
        described = {
            k: v
            for k, v in cfg.model_dump(mode="json").items()
            if k in ("arch", "width", "depth", "fit")
        }
        key = [json.dumps(described, sort_keys=True), data.hash]
    else:
        key = [
            json.dumps(spec.to_dict(), sort_keys=True),
            weights_identity(cfg, spec),
            json.dumps(cfg.fit.model_dump(mode="json"), sort_keys=True) if train else "as-is",
            data.hash if train else "",
        ]

    def make() -> nn.Module:
        if created is None:
            seed_everything(cfg.fit.seed)  # the initial weights depend on the seed only
        model = created.model if created is not None else build(spec)
        if train:
            if data.train.y is None:
                raise RecipeError(
                    f"{where}.train: training a teacher needs labels; data.unlabeled is true"
                )
            # the teacher trains on its own view (its image size, its tokenizer)
            fit(
                model,
                data.for_teacher("train"),
                data.for_teacher("val"),
                cfg.fit,
                progress=progress,
            )
        return model

    def load(path: Path) -> tuple[nn.Module, Path]:
        from safetensors.torch import load_file

        model = build(spec)
        model.load_state_dict(load_file(str(path)))
        return model.eval(), path

    (model, path), hit = cache.get_or_make(
        "teachers", key, make, load, save_weights, ".safetensors"
    )
    kind = "zoo" if spec.source == "zoo" else spec.source
    teacher = torch_teacher(model, kind, sha256_file(path), path)
    teacher.spec = spec
    teacher.info = {"model": spec.label, "trained": train}
    if created is not None:
        teacher.info.update({k: v for k, v in created.info.items() if k != "model"})
    return teacher, hit, train


def keras_path(model: str, where: str) -> Path:
    """The file of ``keras:PATH``; the built-in Keras families are students, never teachers."""
    from edgekd.models.keras_zoo import KERAS_ZOO

    name = model.partition(":")[2].strip()
    if name in KERAS_ZOO:
        raise RecipeError(
            f"{where}.model: keras:{name} is an untrained Keras family (a student); a Keras "
            "teacher is a trained file: keras:PATH (.keras, .h5 or a SavedModel directory)"
        )
    return Path(name)


def teacher_from_config(
    cfg: TeacherConfig, data: DataSplits, cache: Cache, reporter: Reporter, where: str = "teacher"
) -> tuple[Teacher, bool, str]:
    """The teacher a recipe section names: loaded from ``path``, or built from its model
    (trained here when needed, cached). Returns (teacher, cache_hit, source: ``file``,
    ``zoo`` or the model source)."""
    from edgekd.teacher.load import load_teacher_file

    if cfg.path is not None:
        return load_teacher_file(cfg, data), False, "file"
    if cfg.model is not None and cfg.model.startswith("keras:"):
        from edgekd.teacher.keras import keras_teacher

        return keras_teacher(keras_path(cfg.model, where), cfg, data, where), False, "keras"
    label = "train teacher" if where == "teacher" else f"train {where}"
    task = reporter.task(label, cfg.fit.epochs)
    try:
        teacher, hit, trained = train_or_load_teacher(
            cfg, data, cache, lambda e, n, i: task.update(e, epoch_info(i)), where
        )
        task.update(cfg.fit.epochs, "from cache" if hit else "" if trained else "as loaded")
    finally:
        task.close()
    return teacher, hit, teacher.kind
