"""``edgekd.distill(...)``: distill a student with any method of ``METHODS``; and the
from-scratch baseline it is compared with."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from edgekd.cache import Cache, cache_root
from edgekd.data.loaders import DataSplits
from edgekd.distill.config import DistillConfig
from edgekd.distill.methods import METHODS, Distilled, Job
from edgekd.errors import RecipeError, UsageError
from edgekd.models.config import StudentConfig
from edgekd.models.create import Created, create_model
from edgekd.models.spec import ModelSpec
from edgekd.progress import NullReporter, Reporter, epoch_info
from edgekd.teacher.load import Teacher
from edgekd.train.loop import History, fit, seed_everything


def distill(
    data: DataSplits,
    teacher: Teacher | nn.Module | np.ndarray | dict[str, np.ndarray],
    student: StudentConfig | None = None,
    config: DistillConfig | None = None,
    *,
    method: str | None = None,
    teacher_logits: dict[str, Any] | None = None,
    teachers: Sequence[Teacher] = (),
    cache: Cache | None = None,
    reporter: Reporter | None = None,
    checkpoint: Path | None = None,
) -> Distilled:
    """Distill ``student`` (any model source) from ``teacher`` with ``method`` (default
    ``config.method``).

    ``teacher`` is a loaded :class:`~edgekd.teacher.load.Teacher`, a torch module, or only its
    logits (an array with one row per train sample, or a dict per split); methods that look
    inside the teacher (``fitnets``, ``at``, ``rkd``, ``sp``, ``data_free``) need a module.
    A teacher's outputs are computed once through ``cache`` (default: ``$EDGEKD_CACHE``),
    unless ``teacher_logits`` (per split) are given.
    ``teachers`` are the extra teachers of ``multi_teacher``; ``checkpoint`` makes training
    resumable epoch by epoch. Returns the student (eval mode, best val epoch), its history,
    and what the method reports.
    """
    student = student or StudentConfig()
    config = config or DistillConfig()
    method = method or config.method
    if method not in METHODS:
        raise RecipeError(f"distill.method: {method!r}; expected one of {', '.join(METHODS)}")
    if method != config.method:
        config = config.model_copy(update={"method": method})
    if teachers and method != "multi_teacher":
        raise UsageError(f"teachers: more than one teacher needs method multi_teacher ({method})")
    cache = cache or Cache(cache_root())
    reporter = reporter or NullReporter()
    resolved, logits = _teacher_and_logits(teacher, data, cache, teacher_logits)
    if len(logits["train"]) != len(data.train):
        raise UsageError(
            f"teacher logits have {len(logits['train'])} rows; the train split has "
            f"{len(data.train)}"
        )
    if data.train.y is None and config.alpha > 0:
        reporter.log("[yellow]warning:[/] training data is unlabeled: distill.alpha forced to 0")

    made: list[Created] = []

    def build() -> nn.Module:
        made.append(
            create_model(student, "student", data.input_shape, data.num_classes, teacher=resolved)
        )
        return made[-1].model

    seed_everything(config.seed)  # the student's initial weights depend on the seed only
    job = Job(
        data=data,
        teacher_logits=logits,
        student=build(),
        build_student=build,
        config=config,
        cache=cache,
        teacher=resolved,
        teachers=tuple(teachers),
        checkpoint=checkpoint,
        reporter=reporter,
    )
    result = METHODS[method](job)
    result.model.eval()
    result.spec, result.init = made[0].spec, made[0].info
    return result


def train_baseline(
    data: DataSplits,
    student: StudentConfig | None = None,
    config: DistillConfig | None = None,
    *,
    teacher: Teacher | None = None,
    reporter: Reporter | None = None,
    checkpoint: Path | None = None,
) -> tuple[nn.Module, History, ModelSpec, dict[str, Any]]:
    """The same student (same initial weights) trained on hard labels with the same budget:
    what distillation must beat. Returns (model, history, its spec, its initial weights).
    ``teacher`` is needed only for ``student.init_from_teacher``."""
    student = student or StudentConfig()
    config = config or DistillConfig()
    if data.train.y is None:
        raise RecipeError("distill.baseline: a from-scratch baseline needs labels; set it to false")
    seed_everything(config.seed)
    made = create_model(student, "student", data.input_shape, data.num_classes, teacher=teacher)
    model = made.model
    cfg = config.train_config()
    task = (reporter or NullReporter()).task("train baseline", cfg.epochs)
    try:
        hist = fit(
            model,
            data.train,
            data.val,
            cfg,
            checkpoint=checkpoint,
            progress=lambda e, n, info: task.update(e, epoch_info(info)),
        )
    finally:
        task.close()
    return model.eval(), hist, made.spec, made.info


def _teacher_and_logits(
    teacher: Any, data: DataSplits, cache: Cache, logits: dict[str, Any] | None
) -> tuple[Teacher | None, dict[str, Any]]:
    """The teacher as a ``Teacher`` (None when only logits are given) and its logits."""
    from edgekd.teacher.outputs import teacher_outputs

    if isinstance(teacher, np.ndarray):
        return None, {"train": teacher}
    if isinstance(teacher, dict):
        if "train" not in teacher:
            raise UsageError("teacher logits: a dict needs a 'train' entry")
        return None, teacher
    if isinstance(teacher, nn.Module):
        from edgekd.teacher.load import module_teacher

        teacher = module_teacher(teacher)
    return teacher, logits if logits is not None else teacher_outputs(teacher, data, cache)[0]
