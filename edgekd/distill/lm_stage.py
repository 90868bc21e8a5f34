"""The ``distill`` step of a ``task: causal_lm`` recipe: the recipe's teacher, student and
``distill.lm`` section through :func:`edgekd.distill.lm_api.distill_lm`, the student saved
in the run directory as a Hugging Face directory (``student/``) and returned as an artifact
whose file is its weights (``student/model.safetensors``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekd.artifact import Artifact
from edgekd.distill.lm_api import LMStudent, distill_lm
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
    return [train(recipe, run_dir, env.reporter, env.cache)]


def train(recipe: Recipe, run_dir: Path, reporter: Any, cache: Any) -> Artifact:
    """Train the student (module docstring); its artifact carries how it was made."""
    assert recipe.data.path is not None  # the recipe's validation guarantees it
    result = distill_lm(
        recipe.data.path,
        run_dir / STUDENT_DIR,
        recipe.distill.lm,
        teacher=recipe.teacher.model,
        student=student_of(recipe),
        cache=cache,
        reporter=reporter,
    )
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
            "training": {
                "steps": hist["steps"],
                "seconds": round(float(hist["seconds"]), 3),
                "loss": hist["loss"],
                "val": hist["val"],
                "on_policy_batches": hist["on_policy_batches"],
            },
        },
    )
    if info.get("answers_from_text"):
        art.extra["answers_from_text"] = info["answers_from_text"]
    return art.stamp(run_dir)
