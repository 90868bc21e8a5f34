"""The plan of a recipe whose student is a Keras model (``student.model: keras:...``).

data → teacher (any kind) → teacher outputs (cached) → distill the Keras student
(``distill.keras_stage``; + a labels-only baseline) → TFMOT magnitude pruning
(``prune.tfmot``) → TFMOT QAT (``quantize.tfmot_qat``) → ``tf.lite.TFLiteConverter``
(``export.keras_tflite``, each file behind the TFLite parity gate; ONNX by tf2onnx,
``export.keras_onnx``) → evaluate → profile, in
the same run directory, manifest and reports as the torch plan. What the Keras path does not
have is refused here, before a run directory exists, naming the field and what would work.
"""

from __future__ import annotations

from pathlib import Path

from edgekd.artifact import Artifact
from edgekd.errors import RecipeError
from edgekd.passes import Services
from edgekd.pipeline.plan import Pass, every, ids
from edgekd.recipe.schema import Recipe

# the recipe values the Keras path runs (others are torch/ONNX-only)
PRUNE_METHODS = ("none", "unstructured")
QUANTIZE_METHODS = ("none", "qat")


def is_keras_student(recipe: Recipe) -> bool:
    return (recipe.student.model or "").startswith("keras:")


def check_recipe(recipe: Recipe) -> None:
    """Refuse settings only the torch path has (exit 2, naming the field)."""
    if recipe.distill.method != "kd" or recipe.distill.divergence != "kl":
        raise RecipeError(
            f"distill.method: a Keras student distills with method kd and divergence kl "
            f"(response-based, Keras's distillation train_step); got {recipe.distill.method} / "
            f"{recipe.distill.divergence}"
        )
    if recipe.prune.method not in PRUNE_METHODS:
        raise RecipeError(
            f"prune.method: {recipe.prune.method} (channel removal) is torch-only; a Keras "
            "student is pruned by TFMOT's prune_low_magnitude: unstructured or none"
        )
    prune = recipe.prune
    if prune.method != "none":
        if prune.layers:
            raise RecipeError(
                "prune.layers: per-layer sparsity overrides are torch-only; TFMOT prunes every "
                f"prunable layer of a Keras student to prune.sparsity ({prune.sparsity})"
            )
        if prune.importance == "taylor":
            raise RecipeError(
                "prune.importance: taylor is torch-only; TFMOT's prune_low_magnitude ranks "
                "weights by magnitude (use l1 or l2, which rank single weights alike)"
            )
        if prune.steps != 1 or prune.initial_sparsity != 0.0:
            raise RecipeError(
                f"prune.steps / prune.initial_sparsity ({prune.steps} / {prune.initial_sparsity})"
                ": a Keras student follows TFMOT's own PolynomialDecay schedule from 0 to "
                "prune.sparsity during fine-tuning; leave both at their defaults (1 / 0.0)"
            )
    if recipe.quantize.method not in QUANTIZE_METHODS:
        raise RecipeError(
            f"quantize.method: {recipe.quantize.method} is edgekd's ONNX quantization of a torch "
            "export; a Keras student uses qat (TFMOT quantize_model) or none, and its int8 "
            "TFLite files come from export.tflite.precision"
        )
    if recipe.teacher.outputs_top_k is not None:
        raise RecipeError("teacher.outputs_top_k: a Keras student reads every teacher logit")
    if recipe.teachers or recipe.student.weights is not None:
        field = "teachers" if recipe.teachers else "student.weights"
        raise RecipeError(f"{field}: not available for a Keras student (one teacher; a "
                          "keras:PATH file carries its own weights)")  # fmt: skip


def keras_plan(recipe: Recipe) -> list[Pass]:
    """The passes for a Keras student, in order."""
    from edgekd.data import stage as data
    from edgekd.distill import keras_stage as distill
    from edgekd.evaluate import stage as evaluate
    from edgekd.export import keras_onnx, keras_tflite
    from edgekd.profile import stage as profile
    from edgekd.prune import tfmot as prune
    from edgekd.quantize import tfmot_qat as quantize
    from edgekd.teacher import stage as teacher

    check_recipe(recipe)
    t = ("data", "teacher")
    kd = ids("data", "teacher", "teacher-outputs")
    out = [
        Pass("data", data.run, ("data",), ids()),
        Pass("teacher", teacher.run, t, ids("data")),
        Pass("teacher_outputs", teacher.run_outputs, t, ids("data", "teacher")),
        Pass("distill", distill_checked, (*t, "student", "distill"), kd),
    ]
    if recipe.distill.baseline:
        out.append(Pass("baseline", distill.run_baseline, (*t, "student", "distill"), kd))
    deploy = "student"
    if recipe.prune.method != "none":
        take = ids("data", "teacher-outputs", deploy)
        out.append(Pass("prune", prune.run, ("data", "prune", "distill"), take))
        deploy = "student-pruned"
    qat = None
    if recipe.quantize.method == "qat":
        take = ids("data", "teacher-outputs", deploy)
        out.append(Pass("quantize", quantize.run, ("data", "quantize", "distill"), take))
        qat = "student-qat"
    if "onnx" in recipe.export.formats:
        out.append(Pass("export_onnx", keras_onnx.run, ("data", "export"), ids("data", deploy)))
    if "tflite" in recipe.export.formats:
        take = ids("data", deploy, *([qat] if qat else []))
        out.append(Pass("export_tflite", keras_tflite.run, ("data", "export", "targets"), take))
    out.append(Pass("evaluate", evaluate.run, ("data", "evaluate"), every))
    out.append(Pass("profile", profile.run, ("evaluate", "targets"), every))
    return out


def distill_checked(
    inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services
) -> list[Artifact]:
    """The distill pass, after wrapping a fresh student as the TFMOT passes will: a layer
    TFMOT cannot prune or quantize is a bad-input error (exit 2) before any training."""
    from edgekd.backends import import_tfmot
    from edgekd.distill import keras_stage
    from edgekd.prune.tfmot import polynomial_schedule, wrap
    from edgekd.quantize.tfmot_qat import quantize_keras

    pruning = cfg.prune.method != "none"
    if pruning or cfg.quantize.method == "qat":
        student = keras_stage.build_student(cfg, env.data)
        if pruning:
            tfmot = import_tfmot()
            wrap(tfmot, student, polynomial_schedule(tfmot, cfg.prune, len(env.data.train)))
        if cfg.quantize.method == "qat":
            quantize_keras(student, pruning)
    return keras_stage.run(inputs, cfg, run_dir, env)
