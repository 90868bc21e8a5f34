"""Check every model a recipe names before any work: a misspelt torchvision/timm name, a
``hf:`` directory without ``config.json``, a missing ``module:`` file or ``weights`` file is
a bad-input error (exit 2) naming the field, not a failure after the teacher has trained.
Checks that need the data (shapes, weight keys) run when the model is built."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from edgekd.errors import ModelFileError, RecipeError, UsageError

if TYPE_CHECKING:
    from edgekd.models.config import StudentConfig, TeacherConfig
    from edgekd.recipe.schema import Recipe


def check_models(recipe: Recipe) -> None:
    """Raise the first problem of ``teacher``, ``teachers[i]`` and ``student``."""
    sections: list[tuple[str, StudentConfig | TeacherConfig]] = [("teacher", recipe.teacher)]
    sections += [(f"teachers[{i}]", t) for i, t in enumerate(recipe.teachers)]
    sections.append(("student", recipe.student))
    for where, cfg in sections:
        check_section(cfg, where)
    init = recipe.student.init_from_teacher
    if init is not None:
        from edgekd.models.layer_subset import subset_spec
        from edgekd.models.spec import ModelSpec

        teacher = recipe.teacher.model or ""
        if not teacher.startswith("hf:"):
            raise RecipeError(
                "student.init_from_teacher: needs a transformers teacher (teacher.model: hf:DIR) "
                "to take layers from"
            )
        subset_spec(ModelSpec("hf", teacher[3:], (), 0), list(init.layers), "student")


def check_section(cfg: StudentConfig | TeacherConfig, where: str) -> None:
    from edgekd.models.sources import split_model

    if cfg.weights is not None and not Path(cfg.weights).is_file():
        raise ModelFileError(f"{where}.weights: file not found: {cfg.weights}")
    if cfg.model is None:
        return
    source, name = split_model(cfg.model)
    try:
        if source == "zoo":
            from edgekd.models.zoo import ZOO

            if name not in ZOO:
                raise RecipeError(f"unknown zoo model {name!r}; the zoo has: {', '.join(ZOO)}")
        elif source == "torchvision":
            from edgekd.models.vision import torchvision_names, unknown_name

            names = torchvision_names()
            if name not in names:
                raise unknown_name("torchvision", name, names)
        elif source == "timm":
            from edgekd.models.vision import import_timm, timm_names, unknown_name

            if not import_timm().is_model(name):
                raise unknown_name("timm", name, timm_names())
        elif source == "hf":
            from edgekd.models.hf import check_dir

            check_dir(name)
        elif source == "module":
            from edgekd.models.user_module import split_target

            file, _ = split_target(name)
            if not file.is_file():
                raise RecipeError(f"module:{name}: file not found: {file}")
        elif source == "keras":
            from edgekd.models.keras_files import check_path
            from edgekd.models.keras_zoo import KERAS_ZOO

            if name in KERAS_ZOO and where != "student":
                raise RecipeError(
                    f"keras:{name} is an untrained Keras family (a student); a Keras teacher "
                    "is a trained file: keras:PATH (.keras, .h5 or a SavedModel directory)"
                )
            if name not in KERAS_ZOO:
                check_path(Path(name))
    except UsageError as exc:
        raise type(exc)(f"{where}.model: {exc}") from None
