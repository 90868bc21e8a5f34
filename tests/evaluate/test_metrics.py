"""Classification metrics from logits agree with their definitions."""

from __future__ import annotations

import numpy as np
import pytest

from edgekd.evaluate.metrics import classification_metrics


def test_metrics_match_scikit_learn_and_agreement_counts_teacher_matches():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    logits = rng.standard_normal((200, 4))
    teacher = logits.copy()
    teacher[:50] = -teacher[:50]  # the teacher disagrees on (most of) the first 50 rows
    m = classification_metrics(logits, y, teacher)
    pred = logits.argmax(1)
    assert m["accuracy"] == pytest.approx(np.mean(pred == y))
    assert m["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert m["agreement"] == pytest.approx(np.mean(pred == teacher.argmax(1)))
    assert 0.5 < m["agreement"] < 1.0


def test_perfect_predictions_score_one_and_no_teacher_means_no_agreement():
    y = np.array([0, 1, 2, 2, 1, 0])
    logits = np.eye(3)[y] * 5.0
    assert classification_metrics(logits, y) == {"accuracy": 1.0, "macro_f1": 1.0}
