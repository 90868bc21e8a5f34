"""Classification metrics computed from logits."""

from __future__ import annotations

import numpy as np


def classification_metrics(
    logits: np.ndarray, y: np.ndarray, teacher_logits: np.ndarray | None = None
) -> dict[str, float]:
    """accuracy, macro-F1 and (given the teacher's logits) top-1 agreement with the teacher."""
    from sklearn.metrics import f1_score

    pred = logits.argmax(1)
    out = {
        "accuracy": float(np.mean(pred == y)),
        "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0)),
    }
    if teacher_logits is not None:
        out["agreement"] = float(np.mean(pred == teacher_logits.argmax(1)))
    return out
