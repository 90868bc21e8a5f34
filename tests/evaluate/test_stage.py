"""The evaluate pass computes the recipe's metrics on the recipe's splits, per artifact, with
the runtime that runs it; the teacher is scored from its outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgekd.artifact import Artifact
from edgekd.cache import Cache
from edgekd.data.loaders import load_data
from edgekd.distill.stage import save_model
from edgekd.evaluate import stage
from edgekd.models.spec import ModelSpec
from edgekd.passes import Services
from edgekd.progress import NullReporter
from edgekd.recipe.schema import Recipe
from edgekd.teacher.output_store import cached_outputs
from edgekd.teacher.stage import link_entry
from edgekd.train.loop import predict


def test_metrics_and_splits_from_the_recipe(tmp_path):
    data = load_data()
    env = Services(NullReporter(), Cache(tmp_path / "cache"), lambda: data)
    torch.manual_seed(0)
    from edgekd.models.zoo import build_model

    model = build_model("cnn", data.input_shape, data.num_classes, 2, 1).eval()
    spec = ModelSpec("zoo", "cnn", data.input_shape, data.num_classes, 2, 1)
    student = save_model(
        model, spec, tmp_path, "student", env, role="student", stage="distill", parent="teacher"
    )
    rng = np.random.default_rng(0)
    outputs = {s: rng.standard_normal((len(getattr(data, s)), 10)).astype(np.float32)
               for s in ("train", "val", "test")}  # fmt: skip
    cache = Cache(tmp_path / "cache")
    sizes = {s: len(v) for s, v in outputs.items()}
    _, _, info = cached_outputs(
        cache, ["t"], sizes, lambda s, a, b: iter([outputs[s][a:b]]), 10, shard_rows=100
    )
    link_entry(Path(info["path"]), tmp_path / "outputs")
    logits = Artifact(
        "teacher-outputs", "data", "teacher_outputs", "npy", None, "outputs/index.json"
    )
    recipe = Recipe.model_validate(
        {"evaluate": {"metrics": ["accuracy", "agreement"], "splits": ["test", "val"]}}
    )
    (out,) = stage.run([logits.stamp(tmp_path), student], recipe, tmp_path, env)
    assert set(out.metrics) == {"accuracy", "agreement", "val_accuracy", "val_agreement"}
    assert out.extra["runtime"] == "torch"
    pred = predict(model, data.val.x).argmax(1)
    assert out.metrics["val_accuracy"] == pytest.approx(np.mean(pred == data.val.y))
    assert out.metrics["val_agreement"] == pytest.approx(np.mean(pred == outputs["val"].argmax(1)))
