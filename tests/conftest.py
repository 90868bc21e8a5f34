"""Shared fixtures: a per-session teacher cache, tiny data, and a CLI runner with exit codes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Tests stay small and deterministic: one thread, fixed seeds.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("edgekd-cache")
    os.environ["EDGEKD_CACHE"] = str(cache)
    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)  # an op without a deterministic kernel raises
    return cache


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def invoke(*args: str) -> CliResult:
    """``edgekd ARGS`` in-process through the real entry point (``edgekd.cli.main``), with
    what it printed to stdout and stderr: the one way tests run the CLI."""
    import contextlib
    import io

    from edgekd.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="session")
def keras_teacher_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tf_keras digits classifier saved as ``.keras`` (``tests.keras_models``)."""
    from tests.keras_models import keras_teacher_file as make

    return make(tmp_path_factory.mktemp("keras"))


@pytest.fixture
def cli():
    """:func:`invoke`, as a fixture."""
    return invoke


def run_cli(args: list[str]) -> tuple[int, str]:
    """:func:`invoke` for tests that read one stream: (exit code, stdout + stderr)."""
    r = invoke(*args)
    return r.exit_code, r.stdout + r.stderr


# Recipe overrides that make an end-to-end run take seconds.
FAST = [
    "--set",
    "teacher.fit.epochs=3",
    "--set",
    "distill.epochs=3",
    "--set",
    "teacher.width=8",
    "--set",
    "targets.measure=false",
]


def tiny_images(n: int = 48, classes: int = 3, seed: int = 0) -> Any:
    """Colour blobs whose class is the brightest channel: learnable in a few steps."""
    import numpy as np

    from edgekd.data.loaders import DataSplits
    from edgekd.data.views import identity_split

    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.normal(0, 0.3, (n, 3, 16, 16)).astype(np.float32)
    x[np.arange(n), y] += 1.0
    split = identity_split(x, y.astype(np.int64))
    return DataSplits(split, split, split, split, classes, (3, 16, 16), {}, f"blobs{seed}", "blobs")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory):
    """``corpus(name)``: a model file of ``tests/corpus.py``, built once per session."""
    from tests.corpus import build

    directory = tmp_path_factory.mktemp("corpus")
    return lambda name: build(name, directory)


@pytest.fixture(scope="session")
def lm_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-layer tiny Llama directory (tests.lm_fixtures)."""
    from tests.lm_fixtures import build_llama

    return build_llama(tmp_path_factory.mktemp("lm") / "teacher")


@pytest.fixture(scope="session")
def lm_dataset(lm_teacher: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny teacher's answers (top-5 log-probs) to 40 prompts, as a completions dataset."""
    from tests.lm_fixtures import generate_dataset

    return generate_dataset(lm_teacher, tmp_path_factory.mktemp("lm-data") / "answers.jsonl")


@pytest.fixture(scope="session")
def lm_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(export directory, source model directory): a 2-layer tiny Llama exported once per
    session by ``edgekd.export_lm`` to ONNX and TFLite (fp32, int8 dynamic-range and
    weight-only) with a
    64-token KV cache and an 8-token prefill signature (about a minute: shared by the LM
    export, generate and profile tests)."""
    from edgekd.export.lm_export import export_lm
    from tests.lm_fixtures import build_llama

    root = tmp_path_factory.mktemp("lm-export")
    model = build_llama(root / "llama", layers=2)
    out = root / "export"
    precisions = ("fp32", "dynamic_int8", "weight_int8")
    export_lm(f"hf:{model}", out, precisions=precisions, cache_length=64, prefill_length=8)
    return out, model
