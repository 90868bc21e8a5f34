"""Multi-teacher soft-target averaging, label-set checks and the weight-count check."""

import numpy as np
import pytest

from edgekd.distill.multi_teacher import check_label_sets, ensemble_logits
from edgekd.errors import UsageError
from edgekd.teacher.load import Teacher


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.fixture
def two():
    rng = np.random.default_rng(0)
    return rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(5, 4)).astype(np.float32)


def test_fixed_weights_average_softened_probabilities(two):
    a, b = two
    out = ensemble_logits([a, b], 2.0, "fixed", [3.0, 1.0])
    expect = 0.75 * _softmax(a / 2) + 0.25 * _softmax(b / 2)
    assert np.allclose(_softmax(out / 2), expect, atol=1e-6)
    equal = ensemble_logits([a, b], 2.0)
    assert np.allclose(
        _softmax(equal / 2), 0.5 * _softmax(a / 2) + 0.5 * _softmax(b / 2), atol=1e-6
    )


def test_confidence_weights_favour_the_confident_teacher(two):
    a, _ = two
    sure = np.zeros_like(a)
    sure[:, 1] = 20.0  # certain of class 1
    flat = np.zeros_like(a)  # uniform: confidence 1/4
    out = _softmax(ensemble_logits([sure, flat], 1.0, "confidence"))
    w_sure = 1.0 / (1.0 + 0.25)
    expect = w_sure * _softmax(sure) + (1 - w_sure) * _softmax(flat)
    assert np.allclose(out, expect, atol=1e-5)


def test_weight_count_must_match_teacher_count(two):
    with pytest.raises(UsageError, match="3 entries but there are 2 teachers") as exc:
        ensemble_logits(list(two), 1.0, "fixed", [1, 1, 1])
    assert exc.value.exit_code == 2


def test_differing_class_counts_are_rejected(two):
    a, _ = two
    with pytest.raises(UsageError, match="number of classes"):
        ensemble_logits([a, a[:, :3]], 1.0)


def _teacher(classes):
    return Teacher("sklearn", "id", None, lambda x: x, classes=classes)


def test_differing_label_sets_are_rejected():
    check_label_sets([_teacher(["0", "1"]), _teacher(None), _teacher(["0", "1"])], "abc")
    with pytest.raises(UsageError, match=r"a has classes \['0', '1'\], c has \['1', '2'\]"):
        check_label_sets([_teacher(["0", "1"]), _teacher(None), _teacher(["1", "2"])], "abc")


def test_recipe_weight_count_mismatch_exits_2(cli):
    res = cli(
        "compress",
        "--set",
        "distill.method=multi_teacher",
        "--set",
        "teachers=[{arch: mlp}]",
        "--set",
        "distill.multi_teacher.weights=[0.5, 0.3, 0.2]",
    )
    assert res.exit_code == 2
    assert "distill.multi_teacher.weights has 3 entries but there are 2 teachers" in res.stderr


def test_recipe_teachers_without_multi_teacher_method_exits_2(cli):
    res = cli("compress", "--set", "teachers=[{arch: mlp}]")
    assert res.exit_code == 2
    assert "needs distill.method: multi_teacher" in res.stderr
