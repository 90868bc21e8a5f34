"""The ``distill`` and ``baseline`` passes.

``distill``: the student learns from the teacher with ``distill.method`` (``METHODS``), on
the teacher outputs the run already holds, checkpointed every epoch; it is written as
``student.safetensors`` with its model spec (and ``assistant.safetensors`` for the teacher
assistant chain). ``baseline``: the same student on hard labels with the same budget.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekd.artifact import Artifact, Role
from edgekd.distributed import world
from edgekd.passes import Services, pick

if TYPE_CHECKING:
    from torch import nn

    from edgekd.models.spec import ModelSpec
    from edgekd.recipe.schema import Recipe
    from edgekd.train.loop import History


def run(inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services) -> list[Artifact]:
    from edgekd.data.text import check_text_views
    from edgekd.distill.api import distill
    from edgekd.models.spec import ModelSpec
    from edgekd.teacher import stage as teacher_stage
    from edgekd.teacher.train import teacher_from_config

    data = env.data
    check_text_views(data, cfg.distill.method)  # logit KD needs the same tokens on both sides
    teacher = teacher_stage.load(pick(inputs, "teacher"), cfg, run_dir, env)
    extra = [
        teacher_from_config(c, data, env.cache, env.reporter, f"teachers[{i}]")[0]
        for i, c in enumerate(cfg.teachers)
    ]
    result = distill(
        data,
        teacher,
        cfg.student,
        cfg.distill,
        teacher_logits=teacher_stage.logits_of(inputs, run_dir),
        teachers=extra,
        cache=env.cache,
        reporter=env.reporter,
        checkpoint=_checkpoint(run_dir, "student"),
    )
    if not world.is_main():
        return []  # trained with rank 0 (DDP); rank 0 writes the student
    out = []
    if result.assistant is not None:
        a = cfg.distill.assistant
        spec = ModelSpec("zoo", a.arch, data.input_shape, data.num_classes, a.width, a.depth)
        out.append(
            save_model(
                result.assistant,
                spec,
                run_dir,
                "assistant",
                env,
                role="teacher",
                stage="assistant",
                parent="teacher",
                extra=result.assistant_info,
            )  # fmt: skip
        )
    info: dict[str, Any] = {"method": cfg.distill.method, "init": result.init}
    if result.info:
        info[cfg.distill.method] = result.info
    learned = chance_check(result.history, data.num_classes)
    if learned is not None:
        info["learned"] = learned
        if "warning" in learned:
            env.reporter.log(f"[yellow]warning: {learned['warning']}[/]")
    student = save_model(
        result.model, result.spec, run_dir, "student", env,
        role="student", stage="distill", parent=result.parent, history=result.history, extra=info,
    )  # fmt: skip
    return [*out, student]


def chance_check(history: History | None, num_classes: int) -> dict[str, Any] | None:
    """The student's best val accuracy against guessing one class in ``num_classes``; a
    ``warning`` (in the output and the report) when it is within 2 points of it, i.e. the
    student did not learn (too low a learning rate, too few epochs, BatchNorm statistics
    that never settle). None when there is no val accuracy (unlabelled data)."""
    if history is None or not history.val_accuracy or num_classes < 2:
        return None
    best, chance = float(history.best_val_accuracy), 1.0 / num_classes
    out: dict[str, Any] = {"best_val_accuracy": best, "chance": chance}
    if best <= chance + 0.02:
        out["warning"] = (
            f"the distilled student is at chance level ({100 * best:.2f}% val accuracy, "
            f"chance {100 * chance:.2f}% for {num_classes} classes): it did not learn; "
            "raise distill.lr or distill.epochs, or check the student's BatchNorm momentum"
        )
    return out


def run_baseline(
    inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services
) -> list[Artifact]:
    from edgekd.distill.api import train_baseline
    from edgekd.teacher import stage as teacher_stage

    teacher = None
    if cfg.student.init_from_teacher is not None:  # the same start as the distilled student
        teacher = teacher_stage.load(pick(inputs, "teacher"), cfg, run_dir, env)
    model, hist, spec, init = train_baseline(
        env.data,
        cfg.student,
        cfg.distill,
        teacher=teacher,
        reporter=env.reporter,
        checkpoint=_checkpoint(run_dir, "baseline"),
    )
    if not world.is_main():
        return []
    return [
        save_model(
            model,
            spec,
            run_dir,
            "baseline",
            env,
            role="baseline",
            stage="baseline",
            parent=None,
            history=hist,
            extra={"init": init},
        )  # fmt: skip
    ]


def _checkpoint(run_dir: Path, name: str) -> Path:
    if world.is_main():
        (run_dir / "checkpoints").mkdir(exist_ok=True)
    return run_dir / "checkpoints" / f"{name}.pt"


def save_model(
    model: nn.Module,
    spec: ModelSpec,
    run_dir: Path,
    artifact_id: str,
    env: Services,
    *,
    role: Role,
    stage: str,
    parent: str | None,
    history: History | None = None,
    extra: dict[str, Any] | None = None,
) -> Artifact:
    """``<id>.safetensors`` plus its model spec, as a torch artifact."""
    from edgekd.models.files import save_weights
    from edgekd.models.zoo import count_params

    path = run_dir / f"{artifact_id}.safetensors"
    save_weights(model, path)
    info: dict[str, Any] = {"model": spec.to_dict()}
    if spec.source == "zoo":
        info.update(arch=spec.name, width=spec.width, depth=spec.depth)
    if history is not None:
        info["history"] = history.to_dict()
    art = Artifact(
        id=artifact_id,
        role=role,
        stage=stage,
        format="torch",
        precision="fp32",
        path=path.name,
        parent=parent,
        params=count_params(model),
        macs=_macs(model, spec),
        extra={**info, **(extra or {})},
    )
    return art.stamp(run_dir)


def _macs(model: nn.Module, spec: ModelSpec) -> int | None:
    from edgekd.models.zoo import torch_macs

    try:
        return torch_macs(model, spec.input_shape)
    except Exception:
        return None  # a model that takes other inputs than floats of this shape (text)
