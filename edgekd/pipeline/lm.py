"""The plan of a ``task: causal_lm`` recipe: completions dataset → distill the language-model
student (``edgekd.distill.lm_stage``) → evaluate it against the teacher on the held-out split
(``edgekd.evaluate.lm_stage``) → report. Everything the recipe names is checked before a run
directory is made (:func:`preflight`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgekd.errors import RecipeError
from edgekd.pipeline.context import Context
from edgekd.recipe.schema import Recipe

NOT_YET = (
    "task causal_lm: prune, quantize, export and profile do not run for language models in "
    "this version; the student is the Hugging Face directory student/"
)


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


def stage_data(ctx: Context) -> None:
    from edgekd.completions.dataset import read_dataset
    from edgekd.completions.records import SPLITS
    from edgekd.fileio import sha256_file

    path = Path(ctx.recipe.data.path or "")
    records = read_dataset(path)
    sizes = {s: sum(r["split"] == s for r in records) for s in SPLITS}
    ctx.run.manifest["data"] = {
        "name": "completions",
        "task": "causal_lm",
        "path": str(path),
        "hash": sha256_file(path),
        "sizes": sizes,
        "with_logprobs": sum(r.get("logprobs") is not None for r in records),
    }


def stage_distill(ctx: Context) -> None:
    from edgekd.distill import lm_stage

    art = lm_stage.run(ctx.recipe, ctx.run.path, ctx.reporter, ctx.cache)
    r = ctx.recipe
    if r.prune.method != "none" or r.quantize.method != "none" or r.export.formats:
        art.extra["task"] = {"warning": NOT_YET}
    ctx.run.put_artifact(art)


def stage_evaluate(ctx: Context) -> None:
    import json

    from edgekd.evaluate.lm_stage import evaluate_lm
    from edgekd.fileio import atomic_write_text

    art = ctx.run.artifact("student")
    assert art is not None, "the distill stage runs first"
    ev = ctx.recipe.evaluate.lm
    task = ctx.reporter.task("evaluate LM student", 1)
    scores = evaluate_lm(
        ctx.run.path / art.extra["hf_dir"],
        Path(ctx.recipe.data.path or ""),
        teacher=ctx.recipe.teacher.model,
        split=ev.split,
        max_new_tokens=ev.max_new_tokens,
        prompts=ev.prompts,
        cache=ctx.cache,
    )
    task.update(1)
    task.close()
    answers = scores.pop("answers")
    atomic_write_text(
        ctx.run.path / "answers.jsonl", "".join(json.dumps({"answer": a}) + "\n" for a in answers)
    )
    art.metrics.update(
        {k: float(scores[k]) for k in ("kl", "top1", "nll", "ppl", "rouge_l") if k in scores}
    )
    art.extra["evaluate"] = {
        k: scores[k] for k in ("split", "records", "rouge_prompts", "targets", "max_length")
    }
    art.extra["evaluate"]["answers"] = "answers.jsonl"
    ctx.run.put_artifact(art)


def lm_plan(recipe: Recipe) -> list[tuple[str, Callable[[Context], None]]]:
    """The stages of a ``task: causal_lm`` recipe, in order."""
    return [("data", stage_data), ("distill", stage_distill), ("evaluate", stage_evaluate)]
