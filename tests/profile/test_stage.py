"""The profile pass takes the recipe's ``targets:`` as it is: names, runtime, threads, budgets.

Before the pass engine, the pipeline called ``profile()`` without ``runtime`` and ``threads``
and silently profiled every target with its default runtime and thread count.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from edgekd.artifact import Artifact
from edgekd.cache import Cache
from edgekd.passes import Services
from edgekd.profile import stage
from edgekd.progress import NullReporter
from edgekd.recipe.schema import Recipe
from tests.profile.conftest import tiny_graph


def _profile(tmp_path: Path, targets: dict) -> dict:
    onnx.save(tiny_graph(channels=64, size=16), tmp_path / "m.onnx")
    art = Artifact("m", "student", "export", "onnx", "fp32", "m.onnx", metrics={"accuracy": 0.9})
    art.stamp(tmp_path)
    env = Services(NullReporter(), Cache(tmp_path / "cache"), lambda: pytest.fail("no data"))
    recipe = Recipe.model_validate({"targets": {"measure": False, **targets}})
    (out,) = stage.run([art], recipe, tmp_path, env)
    return out.extra["profile"]


def test_recipe_runtime_and_threads_reach_every_target(tmp_path):
    default = _profile(tmp_path, {"names": ["rpi-4"]})["targets"][0]
    assert default["runtime"] == "litert" and default["threads"] == 4  # rpi-4's defaults
    chosen = _profile(tmp_path, {"names": ["rpi-4"], "runtime": "onnxruntime", "threads": 1})
    (row,) = chosen["targets"]
    assert row["runtime"] == "onnxruntime" and row["threads"] == 1
    four = _profile(tmp_path, {"names": ["rpi-4"], "runtime": "onnxruntime", "threads": 4})
    assert four["targets"][0]["threads"] == 4
    # the same runtime on one core is slower than on four
    assert row["predicted"]["latency_ms"] > four["targets"][0]["predicted"]["latency_ms"]


def test_recipe_budgets_and_the_measured_accuracy_reach_the_verdict(tmp_path):
    p = _profile(
        tmp_path, {"names": ["rpi-4"], "budgets": {"rpi-4": {"min_accuracy": 0.95}}}
    )  # the artifact's accuracy is 0.9
    (row,) = p["targets"]
    assert row["verdict"] == "fail"
    assert [v["key"] for v in row["violations"]] == ["min_accuracy"]
