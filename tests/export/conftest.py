"""Shared fixtures for the TFLite tests: a tiny digits CNN trained once, exported once per kind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits() -> Any:
    from edgekd.data.loaders import load_data

    return load_data()


WIDTH, DEPTH = 8, 2  # the student fixture's zoo options (tests pass them to the CLI)


@pytest.fixture(scope="session")
def student(digits: Any) -> torch.nn.Module:
    """cnn width 8 depth 2 trained to convergence on digits (~96% val, seeded): ~2 s.

    Well trained on purpose: the int8 parity gates compare top-1 decisions, and a model with
    small margins (the width-4, 8-epoch one reached 56-62%) lets one CPU's rounding decide.
    """
    from edgekd.models.zoo import build_model
    from edgekd.train.config import TrainConfig
    from edgekd.train.loop import fit

    torch.manual_seed(0)  # the initial weights must not depend on which tests ran before
    model = build_model("cnn", digits.input_shape, digits.num_classes, WIDTH, DEPTH)
    fit(model, digits.train, digits.val, TrainConfig(epochs=20, lr=1e-2, seed=0))
    return model.eval()


@pytest.fixture(scope="session")
def exported(
    student: torch.nn.Module, digits: Any, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., dict[str, Any]]:
    """``exported(precision, int8_io=False)`` -> export metadata; each file is made once."""
    from edgekd.export.tflite_export import export_tflite

    root = tmp_path_factory.mktemp("tflite")
    cache: dict[tuple[str, bool], dict[str, Any]] = {}

    def get(precision: str, int8_io: bool = False) -> dict[str, Any]:
        key = (precision, int8_io)
        if key not in cache:
            path = root / f"student.{precision}{'.int8io' if int8_io else ''}.tflite"
            sample = np.ascontiguousarray(digits.test.x[:1])
            cache[key] = export_tflite(
                student, sample, path, precision, calib=digits.calib.x, int8_io=int8_io
            ).meta
        return cache[key]

    return get
