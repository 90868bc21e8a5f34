"""The plan of a ``task: causal_lm`` recipe: the completions dataset (``completions.lm_stage``)
→ distill the language-model student (``distill.lm_stage``) → evaluate it against the
teacher on the held-out split (``evaluate.lm_stage``) → report. Everything the recipe names
is checked before a run directory is made (:func:`preflight`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekd.errors import RecipeError
from edgekd.passes import Services
from edgekd.pipeline.plan import Pass, ids
from edgekd.recipe.schema import Recipe


def preflight(recipe: Recipe) -> None:
    """The dataset has assistant turns to learn, and each ``hf:`` model is a causal LM."""
    from edgekd.completions.dataset import read_dataset
    from edgekd.distill.lm_api import model_path
    from edgekd.models.causal_lm import check_path

    assert recipe.data.path is not None  # the recipe's validation guarantees it
    if recipe.teacher.path is not None:
        raise RecipeError(
            "teacher.path: task causal_lm names its teacher as teacher.model: hf:DIR or "
            "hf:FILE.gguf"
        )
    for where, spec in (
        ("teacher.model", recipe.teacher.model),
        ("student.model", recipe.student.model),
    ):
        if spec is not None:
            check_path(model_path(spec, where), where)
    if recipe.student.init_from_teacher is not None and recipe.teacher.model is None:
        raise RecipeError(
            "student.init_from_teacher: needs a teacher to take layers from "
            "(teacher.model: hf:DIR or hf:FILE.gguf)"
        )
    if not Path(recipe.data.path).is_file():
        raise RecipeError(f"data.path: {recipe.data.path}: no such file")
    read_dataset(Path(recipe.data.path), "train")


def lm_services(recipe: Recipe, reporter: Any, cache: Any) -> Services:
    """The services of an LM run: its data is the completions file, keyed by its content."""
    import functools

    from edgekd.fileio import sha256_file

    def no_arrays() -> Any:
        raise RecipeError("task causal_lm: a pass asked for array data; this is a bug")

    path = Path(recipe.data.path or "")
    return Services(reporter, cache, no_arrays, functools.cache(lambda: sha256_file(path)))


def lm_plan(recipe: Recipe) -> list[Pass]:
    """The passes of a ``task: causal_lm`` recipe, in order."""
    from edgekd.completions import lm_stage as data
    from edgekd.distill import lm_stage as distill
    from edgekd.evaluate import lm_stage as evaluate

    return [
        Pass("data", data.run, ("data",), ids()),
        Pass(
            "distill",
            distill.run,
            ("task", "data", "teacher", "student", "distill"),
            ids("data"),
            True,  # every rank of a distributed run trains the student together
        ),
        Pass("evaluate", evaluate.run, ("data", "teacher", "evaluate"), ids("data", "student")),
    ]
