"""Classification metrics computed from logits.

``METRICS`` is the one list: the recipe's ``evaluate.metrics`` accepts its keys. Each takes
the logits (N, C), the labels (N,) and the teacher's logits (or None) and returns a number,
or None when it does not apply (agreement without a teacher). To add a metric, write it here
and add it to the dict.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np


def accuracy(logits: np.ndarray, y: np.ndarray, teacher: np.ndarray | None) -> float:
    """Share of rows whose top-1 class is the label."""
    return float((logits.argmax(1) == y).mean())


def macro_f1(logits: np.ndarray, y: np.ndarray, teacher: np.ndarray | None) -> float:
    """F1 per class, averaged with equal weight (scikit-learn ``f1_score(average="macro")``)."""
    from sklearn.metrics import f1_score

    return float(f1_score(y, logits.argmax(1), average="macro", zero_division=0))


def agreement(logits: np.ndarray, y: np.ndarray, teacher: np.ndarray | None) -> float | None:
    """Share of rows whose top-1 class is the teacher's (how faithful the student is)."""
    if teacher is None:
        return None
    return float((logits.argmax(1) == teacher.argmax(1)).mean())


METRICS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray | None], float | None]] = {
    "accuracy": accuracy,
    "macro_f1": macro_f1,
    "agreement": agreement,
}

if TYPE_CHECKING:
    Metric = str
else:
    Metric = Literal[tuple(METRICS)]


def classification_metrics(
    logits: np.ndarray,
    y: np.ndarray,
    teacher_logits: np.ndarray | None = None,
    names: Sequence[str] = tuple(METRICS),
) -> dict[str, float]:
    """The metrics ``names`` (default: all) that apply, by name."""
    out = {name: METRICS[name](logits, y, teacher_logits) for name in names}
    return {k: v for k, v in out.items() if v is not None}
