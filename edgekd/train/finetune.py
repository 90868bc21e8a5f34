"""Fine-tuning under a distillation loss with cached teacher logits (used by pruning and QAT).

The teacher never runs: its logits on the training split are passed in once, aligned row by row
with ``data.train.x``; the loss (``edgekd.distill.losses.kd_loss``) is the recipe's KD loss
(Hinton et al. 2015).
"""

from __future__ import annotations

import numpy as np
from torch import nn

from edgekd.data.loaders import DataSplits
from edgekd.errors import DataError
from edgekd.train.config import TrainConfig
from edgekd.train.loop import History, LossFn, ProgressFn, accuracy, fit, predict


def check_teacher_logits(teacher_logits: np.ndarray, data: DataSplits) -> None:
    """Teacher logits must have one row per training sample and one column per class."""
    expected = (len(data.train), data.num_classes)
    if teacher_logits.ndim != 2 or tuple(teacher_logits.shape) != expected:
        raise DataError(
            f"teacher logits have shape {tuple(teacher_logits.shape)}; expected {expected} "
            "(one row per training sample, one column per class)"
        )


def kd_fine_tune(
    model: nn.Module,
    train_cfg: TrainConfig,
    data: DataSplits,
    teacher_logits: np.ndarray,
    loss: LossFn,
    progress: ProgressFn | None = None,
) -> History:
    """Fine-tune ``model`` in place under ``loss``; keeps the best val epoch."""
    return fit(
        model,
        data.train,
        data.val,
        train_cfg,
        loss=loss,
        teacher_logits=teacher_logits,
        progress=progress,
    )


def val_accuracy(model: nn.Module, data: DataSplits) -> float:
    """Top-1 accuracy of ``model`` on the val split (0..1)."""
    assert data.val.y is not None
    return accuracy(predict(model, data.val), data.val.y)
