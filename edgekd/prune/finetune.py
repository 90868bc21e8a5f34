"""Fine-tuning under the distillation loss with cached teacher logits (shared by pruning and QAT).

The teacher never runs: its logits on the training split are passed in once, aligned row by row
with ``data.train.x`` (Hinton et al. 2015 loss, see ``edgekd.distill.losses.KDLoss``).
"""

from __future__ import annotations

import gzip
import io

import numpy as np
import torch
from torch import nn

from edgekd.data.loaders import DataSplits
from edgekd.distill.config import DistillConfig, TrainConfig
from edgekd.distill.losses import KDLoss
from edgekd.distill.trainer import History, ProgressFn, accuracy, fit, predict
from edgekd.errors import DataError


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
    distill: DistillConfig,
    progress: ProgressFn | None = None,
) -> History:
    """Fine-tune ``model`` in place with the recipe's KD loss; keeps the best val epoch."""
    loss = KDLoss(distill.temperature, distill.alpha, distill.divergence)
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
    return accuracy(predict(model, data.val.x), data.val.y)


def gzip_size(model: nn.Module) -> int:
    """Bytes of the gzip'd (level 9) float32 state dict: what sparsity saves on disk/flash."""
    buf = io.BytesIO()
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    torch.save(state, buf)
    return len(gzip.compress(buf.getvalue(), compresslevel=9))


def raw_size(model: nn.Module) -> int:
    """Bytes of the uncompressed state dict."""
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return len(buf.getvalue())
