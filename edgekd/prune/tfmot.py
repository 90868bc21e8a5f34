"""The ``prune`` pass of a Keras student: TensorFlow Model Optimization's magnitude pruning.

``prune_low_magnitude`` wraps every Conv2D/Dense kernel with a mask; its ``PolynomialDecay``
schedule raises each layer's sparsity from ``prune.initial_sparsity`` to ``prune.sparsity``
as s_t = s_f + (s_i - s_f)(1 - t/n)^3 (Zhu & Gupta 2017, "To prune, or not to prune") over the
first 70% of the fine-tuning steps, the rest fine-tunes at the final sparsity; fine-tuning
is the distillation ``train_step`` (``distill.keras_kd``) with TFMOT's ``UpdatePruningStep``.
``strip_pruning`` then removes the wrappers: the file is a plain Keras model with zeros, the
same size on disk, smaller compressed (reported as ``zipped_bytes``, as TFMOT's guide does).
TFMOT prunes each layer to the target (``prune.scope: layer``, whatever the recipe says).
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekd.artifact import Artifact
from edgekd.errors import UsageError
from edgekd.passes import Services, the_model

if TYPE_CHECKING:
    from edgekd.distill.keras_kd import KerasData
    from edgekd.prune.config import PruneConfig
    from edgekd.recipe.schema import Recipe
    from edgekd.train.loop import History

KERNELS = ("kernel", "depthwise_kernel")  # the Conv2D/Dense weights TFMOT's registry masks


def run(inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services) -> list[Artifact]:
    from edgekd.distill.keras_stage import keras_data, save_student
    from edgekd.models.keras_files import load_student

    parent = the_model(inputs)
    model = load_student(parent.absolute(run_dir))
    p = cfg.prune
    task = env.reporter.task(f"prune (TFMOT, {p.sparsity:.0%})", p.fine_tune.epochs)
    try:
        stripped, hist = prune_keras(model, keras_data(inputs, run_dir, env.data), cfg)
        task.update(p.fine_tune.epochs, f"val {hist.val_accuracy[-1]:.3f}")
    finally:
        task.close()
    before = (parent.extra.get("history") or {}).get("best_val_accuracy")
    after = hist.val_accuracy[-1]
    info: dict[str, Any] = {
        "method": "tfmot prune_low_magnitude",
        "val_accuracy": {"before": before, "after": after},
        "target_sparsity": p.sparsity,
        "sparsity": sparsity(stripped),
        "schedule": "PolynomialDecay",
        "scope": "layer",
        "pruned": True,
    }
    if before is not None and (before - after) * 100 > p.max_accuracy_drop:
        info["warning"] = (
            f"pruning to {p.sparsity:.0%} cost {(before - after) * 100:.2f} points of val "
            f"accuracy (> prune.max_accuracy_drop {p.max_accuracy_drop}); fine-tune longer "
            "(prune.fine_tune.epochs) or prune less"
        )
        env.reporter.log(f"[yellow]warning: {info['warning']}[/]")
    art = save_student(stripped, cfg, run_dir, "student-pruned", "student", "prune", parent.id,
                       hist, {"prune": info})  # fmt: skip
    info["stripped_bytes"] = art.file_bytes
    info["zipped_bytes"] = zipped_bytes(art.absolute(run_dir))
    info["parent_zipped_bytes"] = zipped_bytes(parent.absolute(run_dir))
    return [art]


def prune_keras(model: Any, data: KerasData, cfg: Recipe) -> tuple[Any, History]:
    """Prune ``model`` to ``prune.sparsity`` while fine-tuning under the distillation loss;
    returns the stripped model and the fine-tuning history."""
    from edgekd.backends import import_tfmot
    from edgekd.distill.keras_kd import fit_keras

    tfmot = import_tfmot()
    p, d = cfg.prune, cfg.distill
    schedule = polynomial_schedule(tfmot, p, len(data.x))
    wrapped = wrap(tfmot, model, schedule)
    callbacks = [tfmot.sparsity.keras.UpdatePruningStep()]
    hist = fit_keras(wrapped, data, p.fine_tune, d.temperature, d.alpha, keep_best=False,
                     callbacks=callbacks)  # fmt: skip
    return tfmot.sparsity.keras.strip_pruning(wrapped), hist


def polynomial_schedule(tfmot: Any, p: PruneConfig, rows: int) -> Any:
    """``PolynomialDecay`` reaching ``p.sparsity`` on a pruning step within the first 70% of
    fine-tuning (TFMOT prunes every ``frequency`` steps; ``end_step`` is one of them)."""
    total = -(-rows // p.fine_tune.batch_size) * p.fine_tune.epochs
    frequency = max(1, min(100, total // 10))
    end = frequency * max(1, int(0.7 * total) // frequency)
    return tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=p.initial_sparsity,
        final_sparsity=p.sparsity,
        begin_step=0,
        end_step=end,
        frequency=frequency,
    )


def wrap(tfmot: Any, model: Any, schedule: Any) -> Any:
    """``prune_low_magnitude(model)``; a layer TFMOT cannot wrap is a ``UsageError`` naming
    it (exit 2)."""
    try:
        return tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule)
    except (ValueError, RuntimeError) as exc:
        layer = unwrappable_layer(model, lambda lay: tfmot.sparsity.keras.prune_low_magnitude(lay))
        what = f"layer {layer.name!r} ({type(layer).__name__})" if layer is not None else "model"
        raise UsageError(
            f"student.model: TFMOT prune_low_magnitude cannot wrap {what}: it is not a built-in "
            "Keras layer TFMOT knows, nor a tfmot PrunableLayer (give it get_prunable_weights) "
            f"({str(exc).splitlines()[0][:160]})"
        ) from None


def unwrappable_layer(model: Any, wrap_one: Any) -> Any:
    """The first layer of ``model`` that ``wrap_one`` refuses (None if each one wraps)."""
    for layer in model.layers:
        try:
            wrap_one(layer)
        except (ValueError, RuntimeError):
            return layer
    return None


def sparsity(model: Any) -> float:
    """Share of zeros among the kernels TFMOT prunes (Conv2D, Dense), read from the model's
    variables (a QAT model's layers compute fake-quantized kernels; its variables are the
    float kernels QAT trains)."""
    zeros = total = 0
    for v in model.weights:
        if v.name.rsplit("/", 1)[-1].split(":")[0] in KERNELS:
            w = np.asarray(v)
            zeros += int((w == 0).sum())
            total += int(w.size)
    return round(zeros / total, 4) if total else 0.0


def zipped_bytes(path: Path) -> int:
    """Size of ``path`` gzip-compressed (level 9): what zeros save in a download or flash
    image; TFMOT's guide compares pruned models this way."""
    return len(gzip.compress(path.read_bytes(), 9))
