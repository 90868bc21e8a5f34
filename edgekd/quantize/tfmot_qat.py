"""The ``quantize`` pass of a Keras student: quantization-aware training with TensorFlow
Model Optimization.

``quantize_model`` (``quantize_annotate_model`` + ``quantize_apply``) inserts fake-quant ops
that simulate int8 inference (per-channel symmetric weights, per-tensor activations: the
TFLite int8 spec) and the student is trained through them under the distillation loss
(``distill.keras_kd``, ``quantize.qat`` epochs and lr; Jacob et al. 2018). A student that
TFMOT pruned gets pruning-preserving QAT instead (``Default8BitPrunePreserveQuantizeScheme``,
the "PQAT" of TFMOT's collaborative optimization), so QAT keeps its zeros. The converter
(``export.keras_tflite``) then turns the fake-quant ranges into a full-int8 ``.tflite``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekd.artifact import Artifact
from edgekd.errors import UsageError
from edgekd.passes import Services, the_model

if TYPE_CHECKING:
    from edgekd.recipe.schema import Recipe


def run(inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services) -> list[Artifact]:
    from edgekd.distill.keras_kd import fit_keras
    from edgekd.distill.keras_stage import keras_data, save_student
    from edgekd.models.keras_files import load_student
    from edgekd.prune.tfmot import sparsity

    parent = the_model(inputs)
    pruned = bool((parent.extra.get("prune") or {}).get("pruned"))
    model, scheme = quantize_keras(load_student(parent.absolute(run_dir)), pruned)
    q, d = cfg.quantize.qat, cfg.distill
    task = env.reporter.task(f"QAT (TFMOT{', pruning-preserving' if pruned else ''})", q.epochs)
    try:
        hist = fit_keras(model, keras_data(inputs, run_dir, env.data), q, d.temperature, d.alpha)
        task.update(q.epochs, f"val {hist.best_val_accuracy:.3f}")
    finally:
        task.close()
    info = {"method": "tfmot qat", "scheme": scheme, "sparsity": sparsity(model)}
    art = save_student(model, cfg, run_dir, "student-qat", "student", "quantize", parent.id, hist,
                       {"qat": info}, suffix=".h5")  # fmt: skip
    return [art]


def quantize_keras(model: Any, pruned: bool) -> tuple[Any, str]:
    """``model`` with TFMOT's fake-quant wrappers, and the scheme's name; a layer TFMOT
    cannot quantize is a ``UsageError`` naming it (exit 2)."""
    from edgekd.backends import import_tfmot

    tfmot = import_tfmot()
    qk = tfmot.quantization.keras
    try:
        annotated = qk.quantize_annotate_model(model)
        if pruned:
            scheme = tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
            return qk.quantize_apply(annotated, scheme), "pruning-preserving (PQAT)"
        return qk.quantize_apply(annotated), "default 8-bit"
    except (ValueError, RuntimeError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        found = re.search(r"Layer (\S+?):<class '([\w.]+)'>", text)
        what = f"layer {found[1]!r} ({found[2].rsplit('.', 1)[-1]})" if found else "the model"
        raise UsageError(
            f"student.model: TFMOT quantize_model cannot quantize {what}: TFMOT's 8-bit scheme "
            "has no QuantizeConfig for it (replace the layer, or use quantize.method: none and "
            f"int8 post-training quantization in export.tflite.precision) ({text[:160]})"
        ) from None
