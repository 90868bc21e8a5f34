"""The training loop: best-epoch weights, early stopping, checkpoint resume, KD fine-tuning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgekd.data.loaders import load_data
from edgekd.errors import DataError
from edgekd.models.zoo import build_model
from edgekd.train.config import TrainConfig
from edgekd.train.finetune import check_teacher_logits, val_accuracy
from edgekd.train.loop import fit, predict


@pytest.fixture(scope="module")
def digits():
    return load_data()


def _model(data):
    torch.manual_seed(0)
    return build_model("cnn", data.input_shape, data.num_classes, 8, 2)


def test_fit_learns_and_keeps_the_best_val_epoch(digits):
    model = _model(digits)
    hist = fit(model, digits.train, digits.val, TrainConfig(epochs=6, seed=0))
    assert hist.best_val_accuracy == max(hist.val_accuracy)
    assert val_accuracy(model, digits) == pytest.approx(hist.best_val_accuracy)
    assert hist.best_val_accuracy > 0.8  # a small CNN learns digits in a few epochs
    assert hist.train_loss[-1] < hist.train_loss[0]


def test_early_stopping_stops_after_patience_epochs_without_progress(digits):
    model = _model(digits)
    # lr 0 never improves on epoch 1's accuracy: stop after `patience` more epochs
    hist = fit(model, digits.train, digits.val, TrainConfig(epochs=20, lr=1e-12, patience=2))
    assert hist.stopped_early and len(hist.train_loss) == hist.best_epoch + 3


def test_a_checkpoint_resumes_where_training_stopped(digits, tmp_path):
    ckpt = tmp_path / "run.pt"
    cfg = TrainConfig(epochs=4, seed=3)
    whole = _model(digits)
    expected = fit(whole, digits.train, digits.val, cfg)

    def stop_after_two(epoch: int, _n: int, _info: dict) -> None:
        if epoch == 2:
            raise KeyboardInterrupt  # as Ctrl-C would, after epoch 2's checkpoint

    with pytest.raises(KeyboardInterrupt):
        fit(_model(digits), digits.train, digits.val, cfg, checkpoint=ckpt, progress=stop_after_two)
    resumed = _model(digits)
    hist = fit(resumed, digits.train, digits.val, cfg, checkpoint=ckpt)
    assert len(hist.train_loss) == 4
    np.testing.assert_allclose(hist.train_loss, expected.train_loss, rtol=1e-5)
    x = digits.test.x[:16]
    np.testing.assert_allclose(predict(resumed, x), predict(whole, x), rtol=1e-4, atol=1e-5)


def test_teacher_logits_must_have_one_row_per_training_sample(digits):
    bad = np.zeros((len(digits.train) - 1, digits.num_classes), np.float32)
    with pytest.raises(DataError, match="one row per training sample"):
        check_teacher_logits(bad, digits)
