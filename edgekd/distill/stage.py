"""The ``distill`` and ``baseline`` passes.

``distill``: the student learns from the teacher with ``distill.method`` (``METHODS``), on
the teacher outputs the run already holds, checkpointed every epoch; it is written as
``student.safetensors`` with its model spec (and ``assistant.safetensors`` for the teacher
assistant chain). ``baseline``: the same student on hard labels with the same budget.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekd.artifact import Artifact
from edgekd.passes import Services, pick

if TYPE_CHECKING:
    from torch import nn

    from edgekd.models.config import StudentConfig
    from edgekd.recipe.schema import Recipe
    from edgekd.train.loop import History


def run(inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services) -> list[Artifact]:
    from edgekd.distill.api import distill
    from edgekd.teacher import stage as teacher_stage
    from edgekd.teacher.train import teacher_from_config

    data = env.data
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
    out = []
    if result.assistant is not None:
        a = cfg.distill.assistant
        out.append(
            save_student(
                result.assistant,
                run_dir,
                "assistant",
                env,
                a.arch,
                a.width,
                a.depth,
                role="teacher",
                stage="assistant",
                parent="teacher",
                extra=result.assistant_info,
            )  # fmt: skip
        )
    info: dict[str, Any] = {"method": cfg.distill.method}
    if result.info:
        info[cfg.distill.method] = result.info
    s = cfg.student
    student = save_student(
        result.model, run_dir, "student", env, s.arch, s.width, s.depth,
        role="student", stage="distill", parent=result.parent, history=result.history, extra=info,
    )  # fmt: skip
    return [*out, student]


def run_baseline(
    inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services
) -> list[Artifact]:
    from edgekd.distill.api import train_baseline

    s: StudentConfig = cfg.student
    model, hist = train_baseline(
        env.data, s, cfg.distill, reporter=env.reporter, checkpoint=_checkpoint(run_dir, "baseline")
    )
    return [
        save_student(
            model,
            run_dir,
            "baseline",
            env,
            s.arch,
            s.width,
            s.depth,
            role="baseline",
            stage="baseline",
            parent=None,
            history=hist,
        )  # fmt: skip
    ]


def _checkpoint(run_dir: Path, name: str) -> Path:
    (run_dir / "checkpoints").mkdir(exist_ok=True)
    return run_dir / "checkpoints" / f"{name}.pt"


def save_student(
    model: nn.Module,
    run_dir: Path,
    artifact_id: str,
    env: Services,
    arch: str,
    width: int,
    depth: int,
    *,
    role: str,
    stage: str,
    parent: str | None,
    history: History | None = None,
    extra: dict[str, Any] | None = None,
) -> Artifact:
    """``<id>.safetensors`` plus its model spec, as a torch artifact."""
    from edgekd.models.files import save_weights
    from edgekd.models.load import ModelSpec
    from edgekd.models.zoo import count_params, torch_macs

    data = env.data
    spec = ModelSpec("zoo", arch, data.input_shape, data.num_classes, width, depth)
    path = run_dir / f"{artifact_id}.safetensors"
    save_weights(model, path)
    info: dict[str, Any] = {"arch": arch, "width": width, "depth": depth, "model": spec.to_dict()}
    if history is not None:
        info["history"] = history.to_dict()
    art = Artifact(
        id=artifact_id,
        role=role,  # type: ignore[arg-type]
        stage=stage,
        format="torch",
        precision="fp32",
        path=path.name,
        parent=parent,
        params=count_params(model),
        macs=torch_macs(model, data.input_shape),
        extra={**info, **(extra or {})},
    )
    return art.stamp(run_dir)
