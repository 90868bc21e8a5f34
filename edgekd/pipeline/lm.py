"""The plan of a ``task: causal_lm`` recipe: the completions dataset (``completions.lm_stage``)
→ distill the language-model student (``distill.lm_stage``) → export it to ONNX/TFLite with
a KV cache, each file gated against the student (``export.lm_stage``) → evaluate the student
and every file against the teacher on the held-out split (``evaluate.lm_stage``) → profile
the files on the targets (``profile.lm_stage``) → report. Everything the recipe names is
checked before a run directory is made (:func:`preflight`, :func:`lm_plan`)."""

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
    """The passes of a ``task: causal_lm`` recipe, in order; sections a language model does
    not use (``prune``, ``quantize``: its files are quantized by ``export.lm``) are refused."""
    from edgekd.completions import lm_stage as data
    from edgekd.distill import lm_stage as distill
    from edgekd.evaluate import lm_stage as evaluate
    from edgekd.export import lm_stage as export
    from edgekd.profile import lm_stage as profile
    from edgekd.profile.lm_profile import LM_BUDGET_KEYS

    _refuse_unused(recipe)
    for name, keys in recipe.targets.budgets.items():
        bad = [k for k in keys if k not in LM_BUDGET_KEYS]
        if bad:
            raise RecipeError(
                f"targets.budgets.{name}.{bad[0]}: not a language-model budget; "
                f"valid: {', '.join(LM_BUDGET_KEYS)}"
            )
    _check_kv_budgets(recipe)
    formats = list(recipe.export.formats)
    out = [
        Pass("data", data.run, ("data",), ids()),
        Pass(
            "distill", distill.run, ("task", "data", "teacher", "student", "distill"), ids("data")
        ),
    ]
    if formats:
        out.append(Pass("export", export.run, ("export", "threads"), ids("student")))
    out.append(Pass("evaluate", evaluate.run, ("data", "teacher", "evaluate", "threads"), every_lm))
    if formats:
        out.append(Pass("profile", profile.run, ("targets",), every_lm))
    return out


def every_lm(arts: list[Any]) -> list[Any]:
    """The student and its exported files (not the data artifact)."""
    return [a for a in arts if a.id == "student" or a.format in ("onnx", "tflite")]


def _refuse_unused(recipe: Recipe) -> None:
    bad = [f for f in recipe.export.formats if f not in ("onnx", "tflite")]
    if bad:
        raise RecipeError(
            f"export.formats: {bad[0]!r}: task causal_lm exports onnx and/or tflite "
            "(prefill/decode with a KV cache)"
        )
    # the sections' defaults (structured pruning, static int8) are for classifiers: only a
    # recipe that asks for them explicitly is refused
    written = recipe.model_fields_set
    if "prune" in written and recipe.prune.method != "none":
        raise RecipeError(
            f"prune.method: {recipe.prune.method!r}: task causal_lm does not prune; set none "
            "(a smaller student is a layer subset: student.init_from_teacher.layers)"
        )
    if "quantize" in written and recipe.quantize.method != "none":
        raise RecipeError(
            f"quantize.method: {recipe.quantize.method!r}: task causal_lm quantizes its "
            "exported files with export.lm.onnx / export.lm.tflite (dynamic_int8, "
            "weight_int8, weight_int4); set none"
        )


def _student_config(recipe: Recipe) -> tuple[dict[str, Any], int | None] | None:
    """(config.json of the model the student's shape comes from, its layer count if it is a
    layer subset), when that model is a directory (a GGUF file's shape is known only once
    loaded: its budgets are checked when profiled)."""
    import json

    from edgekd.distill.lm_api import model_path

    s = recipe.student
    spec, where, layers = s.model, "student.model", None
    if spec is None and s.init_from_teacher is not None:
        spec, where, layers = recipe.teacher.model, "teacher.model", len(s.init_from_teacher.layers)
    if spec is None:
        return None
    path = model_path(spec, where) / "config.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8")), layers


def _check_kv_budgets(recipe: Recipe) -> None:
    """A ``kv_cache_bytes`` budget below one token's cache (2 x layers x KV heads x head size
    x 4 bytes) is refused before any training."""
    wanted = {
        n: b["kv_cache_bytes"] for n, b in recipe.targets.budgets.items() if "kv_cache_bytes" in b
    }
    found = _student_config(recipe) if wanted else None
    if not found:
        return
    cfg, layers = found
    heads = int(cfg.get("num_attention_heads") or 1)
    head_dim = int(cfg.get("head_dim") or int(cfg.get("hidden_size") or 0) // heads)
    kv_heads = int(cfg.get("num_key_value_heads") or heads)
    n = layers or int(cfg.get("num_hidden_layers") or 0)
    per_token = 2 * n * kv_heads * head_dim * 4
    for name, limit in wanted.items():
        if limit < per_token:
            raise RecipeError(
                f"targets.budgets.{name}.kv_cache_bytes: {limit:g} bytes cannot hold one token: "
                f"the student's KV cache needs {per_token:,} bytes per token (2 x {n} layers x "
                f"{kv_heads} KV heads x {head_dim} x 4 bytes)"
            )
