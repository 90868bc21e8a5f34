"""Response-based distillation of a Keras student: ``model.fit`` with a distillation
``train_step``, as in Keras's own example (keras.io/examples/vision/knowledge_distillation,
after Hinton et al. 2015), except that the teacher's logits come from edgekd's teacher-output
cache (the teacher is never run during training, whatever framework it is in):

    loss = alpha * CE(y, s) + (1 - alpha) * T^2 * KL(softmax(t / T) || softmax(s / T))

The same loss as ``distill.losses.kd_loss`` with ``divergence: kl``. Used for distillation,
the baseline (``alpha = 1``: labels only), TFMOT pruning's fine-tuning and QAT.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgekd.train.config import TrainConfig
from edgekd.train.loop import History


@dataclass(frozen=True)
class KerasData:
    """Inputs, labels and the teacher's logits of the train split, and the val split."""

    x: np.ndarray
    y: np.ndarray
    teacher: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray


def distiller(keras: Any, tf: Any, student: Any, temperature: float, alpha: float) -> Any:
    """A ``keras.Model`` whose ``train_step`` trains ``student`` on batches of
    ``(x, (y, teacher_logits))`` under the loss in the module docstring."""

    class Distiller(keras.Model):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.student = student
            self.ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            self.kl = keras.losses.KLDivergence()

        def call(self, x: Any, training: bool = False) -> Any:
            return self.student(x, training=training)

        def train_step(self, data: Any) -> dict[str, Any]:
            x, (y, t) = data
            with tf.GradientTape() as tape:
                s = self.student(x, training=True)
                hard = self.ce(y, s)
                soft = self.kl(
                    tf.nn.softmax(t / temperature, axis=1), tf.nn.softmax(s / temperature, axis=1)
                ) * (temperature**2)
                loss = alpha * hard + (1.0 - alpha) * soft
                if self.student.losses:
                    loss += tf.add_n(self.student.losses)
            weights = self.student.trainable_variables
            self.optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights, strict=True))
            return {"loss": loss, "student_loss": hard, "distillation_loss": soft}

    return Distiller()


def fit_keras(
    student: Any,
    data: KerasData,
    cfg: TrainConfig,
    temperature: float,
    alpha: float,
    *,
    keep_best: bool = True,
    callbacks: Sequence[Any] = (),
) -> History:
    """Train ``student`` in place for ``cfg.epochs`` (optimizer, lr, cosine/step schedule,
    batch size, seed of ``cfg``); ``keep_best`` restores the epoch with the best val accuracy
    (off while TFMOT prunes: an earlier epoch is less sparse)."""
    from edgekd.backends import import_tensorflow

    tf, keras = import_tensorflow()
    keras.utils.set_random_seed(cfg.seed)
    steps = -(-len(data.x) // cfg.batch_size) * cfg.epochs
    model = distiller(keras, tf, student, temperature, alpha)
    model.compile(optimizer=_optimizer(keras, cfg, steps))
    train = (
        tf.data.Dataset.from_tensor_slices(
            (data.x.astype(np.float32), (data.y.astype(np.int64), data.teacher.astype(np.float32)))
        )
        .shuffle(len(data.x), seed=cfg.seed, reshuffle_each_iteration=True)
        .batch(cfg.batch_size)
    )
    hist = History()
    best: list[Any] | None = None
    for _ in range(cfg.epochs):
        out = model.fit(train, epochs=1, verbose=0, callbacks=list(callbacks))
        hist.train_loss.append(round(float(out.history["loss"][-1]), 6))
        acc = accuracy(student, data.val_x, data.val_y)
        hist.val_accuracy.append(acc)
        if acc > hist.best_val_accuracy or best is None:
            hist.best_val_accuracy, hist.best_epoch = acc, len(hist.val_accuracy) - 1
            best = student.get_weights() if keep_best else None
    if keep_best and best is not None:
        student.set_weights(best)
    return hist


def accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    logits = model.predict(x.astype(np.float32), batch_size=256, verbose=0)
    return round(float((np.argmax(logits, 1) == y).mean()), 6)


def _optimizer(keras: Any, cfg: TrainConfig, steps: int) -> Any:
    lr: Any = cfg.lr
    if cfg.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(cfg.lr, max(steps, 1))
    elif cfg.schedule == "step":  # the torch loop's StepLR: x0.1 every epochs // 3 epochs
        every = steps // cfg.epochs * max(1, cfg.epochs // 3)
        lr = keras.optimizers.schedules.ExponentialDecay(cfg.lr, every, 0.1, staircase=True)
    if cfg.optimizer == "sgd":
        decay = cfg.weight_decay or None
        return keras.optimizers.SGD(lr, momentum=cfg.momentum, weight_decay=decay)
    if cfg.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=cfg.weight_decay)
    return keras.optimizers.Adam(lr)
