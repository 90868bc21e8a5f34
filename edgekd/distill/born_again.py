"""Born-again networks (Furlanello et al. 2018, "Born-Again Neural Networks").

Generation 1 is distilled from the teacher; generation k + 1 is a fresh student of the same
architecture distilled from generation k's logits:

    L_{k+1} = KD(z_{k+1}, y, z_k)        (the same KD loss as plain distillation)

The last generation is returned; every generation's history and val accuracy are reported.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from edgekd.data.loaders import DataSplits
from edgekd.distill.losses import KDLoss
from edgekd.train.config import TrainConfig
from edgekd.train.loop import ProgressFn, fit, predict, seed_everything


def born_again(
    build: Callable[[], nn.Module],
    data: DataSplits,
    teacher_logits: np.ndarray,
    cfg: TrainConfig,
    loss: KDLoss,
    generations: int,
    checkpoint_dir: Path | None = None,
    progress: Callable[[int], ProgressFn | None] | None = None,
) -> tuple[nn.Module, list[dict[str, Any]]]:
    """Train ``1 + generations`` students in sequence, each taught by the one before.

    Returns the last generation and one record per generation (history, seed).
    ``progress(g)`` gives the progress callback for generation ``g`` (1-based).
    """
    targets = teacher_logits
    records: list[dict[str, Any]] = []
    model: nn.Module | None = None
    for g in range(1, generations + 2):
        gen_cfg = cfg.model_copy(update={"seed": cfg.seed + g - 1})
        seed_everything(gen_cfg.seed)  # each generation's initial weights depend on its seed
        model = build()
        hist = fit(
            model,
            data.train,
            data.val,
            gen_cfg,
            loss=loss,
            teacher_logits=targets,
            checkpoint=None if checkpoint_dir is None else checkpoint_dir / f"gen{g}.pt",
            progress=None if progress is None else progress(g),
        )
        records.append({"generation": g, "seed": gen_cfg.seed, "history": hist.to_dict()})
        targets = predict(model, data.train)
    assert model is not None
    return model, records
