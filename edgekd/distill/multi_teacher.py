"""Multi-teacher distillation: one student learns from the averaged soft targets of several
teachers (Hinton et al. 2015 ensembles; You et al. 2017, "Learning from Multiple Teacher
Networks"; per-sample confidence weighting as in Zhang et al. 2022, "Confidence-Aware
Multi-Teacher Knowledge Distillation").

    p_ens^T(x) = sum_k w_k(x) softmax(z_k(x) / T),   sum_k w_k(x) = 1
    fixed:       w_k(x) = w_k / sum_j w_j
    confidence:  w_k(x) = c_k(x) / sum_j c_j(x),  c_k(x) = max_c softmax(z_k(x))_c

The ensemble is handed to the ordinary KD loss as logits T * log p_ens^T, whose softmax at
temperature T is exactly p_ens^T. Each teacher's logits are cached separately.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgekd.errors import UsageError


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def check_label_sets(teachers: Sequence, names: Sequence[str]) -> None:
    """All teachers must score the same classes in the same order.

    Compares output widths (on ``probe`` rows already checked against the data) and, where a
    teacher file records its label set (scikit-learn ``classes_``), the labels themselves.
    """
    ref_name, ref = None, None
    for teacher, name in zip(teachers, names, strict=True):
        classes = getattr(teacher, "classes", None)
        if classes is None:
            continue
        if ref is None:
            ref_name, ref = name, list(classes)
        elif list(classes) != ref:
            raise UsageError(
                f"teachers disagree on the label set: {ref_name} has classes {ref}, "
                f"{name} has {list(classes)}; every teacher must be trained on the same labels"
            )


def check_widths(logits: Sequence[np.ndarray], names: Sequence[str]) -> None:
    widths = {name: z.shape[1] for z, name in zip(logits, names, strict=True)}
    if len(set(widths.values())) > 1:
        shown = ", ".join(f"{n}: {w}" for n, w in widths.items())
        raise UsageError(f"teachers disagree on the number of classes ({shown})")


def ensemble_logits(
    logits: Sequence[np.ndarray],
    temperature: float,
    weighting: str = "fixed",
    weights: Sequence[float] | None = None,
) -> np.ndarray:
    """Logits whose softmax at ``temperature`` is the weighted average of the teachers'."""
    if weights is not None and len(weights) != len(logits):
        raise UsageError(
            f"distill.multi_teacher.weights has {len(weights)} entries but there are "
            f"{len(logits)} teachers; give one weight per teacher"
        )
    check_widths(logits, [f"teacher {i}" for i in range(len(logits))])
    probs = np.stack([_softmax(z.astype(np.float64) / temperature) for z in logits])  # K,N,C
    if weighting == "confidence":
        conf = np.stack([_softmax(z.astype(np.float64)).max(axis=1) for z in logits])  # K,N
        w = conf / conf.sum(axis=0, keepdims=True)
    else:
        fixed = np.ones(len(logits)) if weights is None else np.asarray(weights, np.float64)
        w = np.repeat((fixed / fixed.sum())[:, None], probs.shape[1], axis=1)
    mix = (w[:, :, None] * probs).sum(axis=0)
    return (temperature * np.log(np.clip(mix, 1e-12, 1.0))).astype(np.float32)
