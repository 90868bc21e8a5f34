"""The ``distill`` step of a ``task: causal_lm`` recipe: the recipe's teacher, student and
``distill.lm`` section through :func:`edgekd.distill.lm_api.distill_lm`, the student saved
in the run directory as a Hugging Face directory (``student/``) and returned as an artifact
whose file is its weights (``student/model.safetensors``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekd.artifact import Artifact
from edgekd.distill.lm_api import LMStudent, distill_lm
from edgekd.distributed import world
from edgekd.passes import Services

if TYPE_CHECKING:
    from edgekd.recipe.schema import Recipe

STUDENT_DIR = "student"


def student_of(recipe: Recipe) -> LMStudent:
    """The recipe's ``student`` section as an :class:`LMStudent`."""
    s = recipe.student
    layers = None if s.init_from_teacher is None else tuple(s.init_from_teacher.layers)
    return LMStudent(model=s.model, layers=layers, trim_vocab=s.trim_vocab)


def run(inputs: list[Artifact], recipe: Recipe, run_dir: Path, env: Services) -> list[Artifact]:
    """The pass: train the student (module docstring); its artifact carries how it was made."""
    art = train(recipe, run_dir, env.reporter, env.cache)
    return [] if art is None else [art]  # None: a rank other than 0 (rank 0 writes)


def train(recipe: Recipe, run_dir: Path, reporter: Any, cache: Any) -> Artifact | None:
    """Train the student (module docstring); its artifact carries how it was made (None on
    a rank other than 0 of a distributed run: only rank 0 writes)."""
    assert recipe.data.path is not None  # the recipe's validation guarantees it
    result = distill_lm(
        recipe.data.path,
        run_dir / STUDENT_DIR,
        recipe.distill.lm,
        teacher=recipe.teacher.model,
        student=student_of(recipe),
        cache=cache,
        reporter=reporter,
        checkpoint=run_dir / "checkpoints" / "student.pt",
    )
    if not world.is_main():
        return None
    info = result.info
    hist = result.history
    art = Artifact(
        id="student",
        role="student",
        stage="distill",
        format="torch",
        precision="fp32",
        path=f"{STUDENT_DIR}/model.safetensors",
        params=int(info["params"]),
        extra={
            "hf_dir": STUDENT_DIR,
            "teacher": (info.get("teacher") or {}).get("id"),
            "targets": info["source"],
            "method": recipe.distill.lm.method,
            "vocab": info["vocab"],
            "examples": info["examples"],
            "teacher_rows": info.get("teacher_rows") or None,  # examples each rank ran
            "training": {
                "steps": hist["steps"],
                "seconds": round(float(hist["seconds"]), 3),
                "loss": hist["loss"],
                "val": hist["val"],
                "on_policy_batches": hist["on_policy_batches"],
                "tokens": hist["tokens"],
            },
        },
    )
    if info.get("answers_from_text"):
        art.extra["answers_from_text"] = info["answers_from_text"]
    return art.stamp(run_dir)
