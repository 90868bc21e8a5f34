"""``edgekd.distill``: distill a zoo student from precomputed teacher logits."""

from __future__ import annotations

import numpy as np
from torch import nn

from edgekd.data.loaders import DataSplits
from edgekd.distill.config import DistillConfig, TrainConfig
from edgekd.distill.losses import KDLoss
from edgekd.distill.trainer import ProgressFn, fit, seed_everything
from edgekd.models.config import StudentConfig
from edgekd.models.zoo import build_model


def distill(
    data: DataSplits,
    teacher_logits: np.ndarray,
    student: StudentConfig | None = None,
    config: DistillConfig | None = None,
    progress: ProgressFn | None = None,
) -> nn.Module:
    """Train ``student`` on ``data.train`` against ``teacher_logits`` (one row per train sample).

    Returns the student in eval mode with its best-validation-accuracy weights. The same
    ``config.seed`` gives the same weights: the student is initialized after seeding.
    """
    student = student or StudentConfig()
    config = config or DistillConfig()
    if len(teacher_logits) != len(data.train):
        raise ValueError(
            f"teacher_logits has {len(teacher_logits)} rows; the train split has {len(data.train)}"
        )
    seed_everything(config.seed)  # the initial weights depend on the seed only
    model = build_model(
        student.arch, data.input_shape, data.num_classes, student.width, student.depth
    )
    alpha = config.alpha if data.train.y is not None else 0.0
    train_cfg = TrainConfig(**{k: getattr(config, k) for k in TrainConfig.model_fields})
    fit(
        model,
        data.train,
        data.val,
        train_cfg,
        loss=KDLoss(config.temperature, alpha, config.divergence),
        teacher_logits=teacher_logits,
        progress=progress,
    )
    return model
