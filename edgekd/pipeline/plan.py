"""The plan: which passes a recipe runs, in what order, on which artifacts.

recipe → data → teacher → teacher outputs (cached) → distill (+ baseline) → prune →
export ONNX (+ the teacher) → quantize → export TFLite → evaluate → profile. Each pass is
the ``run`` function of its stage's ``stage.py``; ``sections`` are the recipe sections it
reads (part of the key that lets a resumed run skip it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edgekd.artifact import Artifact
from edgekd.errors import RecipeError
from edgekd.passes import PassFn
from edgekd.recipe.schema import Recipe

Select = Callable[[list[Artifact]], list[Artifact]]


@dataclass(frozen=True)
class Pass:
    name: str  # the stage name in the manifest's timings
    run: PassFn
    sections: tuple[str, ...]
    select: Select
    # every rank of a distributed run runs it (it trains a student or fills the teacher
    # cache); other passes run on rank 0 alone
    distributed: bool = False


def ids(*wanted: str) -> Select:
    """The artifacts with these ids, in this order (those that exist)."""
    return lambda arts: [a for w in wanted for a in arts if a.id == w]


def every(arts: list[Artifact]) -> list[Artifact]:
    return list(arts)


def plan(recipe: Recipe) -> list[Pass]:
    """The passes this recipe runs, in order."""
    if recipe.task == "causal_lm":
        from edgekd.pipeline.lm import lm_plan

        return lm_plan(recipe)
    if (recipe.student.model or "").startswith("keras:"):
        from edgekd.pipeline.keras import keras_plan

        return keras_plan(recipe)
    from edgekd.data import stage as data
    from edgekd.distill import stage as distill
    from edgekd.evaluate import stage as evaluate
    from edgekd.export.stage import FORMATS, run_teacher_onnx
    from edgekd.profile import stage as profile
    from edgekd.prune import stage as prune
    from edgekd.quantize import stage as quantize
    from edgekd.teacher import stage as teacher

    t = ("data", "teacher")
    out = [
        Pass("data", data.run, ("data",), ids()),
        Pass("teacher", teacher.run, t, ids("data")),
        Pass("teacher_outputs", teacher.run_outputs, t, ids("data", "teacher"), True),
        Pass(
            "distill",
            distill.run,
            (*t, "teachers", "student", "distill"),
            ids("data", "teacher", "teacher-outputs"),
            True,
        ),
    ]
    if recipe.distill.baseline:
        out.append(
            # the teacher: student.init_from_teacher starts the baseline from its layers too
            Pass(
                "baseline",
                distill.run_baseline,
                ("data", "teacher", "student", "distill"),
                ids("data", "teacher"),
                True,
            )
        )
    deploy = "student"
    if recipe.prune.method != "none":
        out.append(
            Pass(
                "prune",
                prune.run,
                ("data", "prune", "distill"),
                ids("data", "teacher-outputs", "student"),
                True,
            )
        )
        deploy = "student-pruned"
    formats = list(recipe.export.formats)
    q = recipe.quantize.method
    if q not in ("none", "qat") and "onnx" not in formats:
        raise RecipeError(
            f"quantize.method: {q!r} quantizes the ONNX export; "
            "add onnx to export.formats (or use method qat)"
        )
    if "onnx" in formats:
        out.append(Pass("export_onnx", FORMATS["onnx"], ("data", "export"), ids("data", deploy)))
    if "onnx" in formats and recipe.export.teacher and recipe.teacher.path is None:
        out.append(
            Pass(
                "export_teacher",
                run_teacher_onnx,
                ("data", "teacher", "export"),
                ids("data", "teacher"),
            )
        )
    if q != "none":
        take = ids("data", "teacher-outputs", deploy) if q == "qat" else ids("data", "student-onnx")
        out.append(
            Pass("quantize", quantize.run, ("data", "quantize", "distill"), take, q == "qat")
        )
    for fmt in formats:
        if fmt != "onnx":
            out.append(Pass(f"export_{fmt}", FORMATS[fmt], ("data", "export"), ids("data", deploy)))
    out.append(Pass("evaluate", evaluate.run, ("data", "evaluate"), every))
    out.append(Pass("profile", profile.run, ("evaluate", "targets"), every))
    return out
