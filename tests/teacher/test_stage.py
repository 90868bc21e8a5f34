"""The teacher-outputs pass: the recipe's cache settings reach the sharded cache, and later
passes read the run directory's memory-mapped copy."""

from __future__ import annotations

import numpy as np


def test_recipe_top_k_reaches_the_teacher_outputs_pass(tmp_path):
    """``teacher.outputs_top_k``: the pass caches k logits per row plus the tail mass, and
    the logits later passes read keep the teacher's top-k classes and their probabilities."""
    from edgekd.cache import Cache
    from edgekd.data import stage as data_stage
    from edgekd.data.loaders import load_data
    from edgekd.passes import Services
    from edgekd.progress import NullReporter
    from edgekd.recipe.schema import Recipe
    from edgekd.teacher import stage

    recipe = Recipe.model_validate(
        {"teacher": {"width": 4, "depth": 1, "fit": {"epochs": 1}, "outputs_top_k": 3}}
    )
    data = load_data(recipe.data)
    env = Services(NullReporter(), Cache(tmp_path / "cache"), lambda: data)
    arts = data_stage.run([], recipe, tmp_path, env)
    arts += stage.run(arts, recipe, tmp_path, env)
    (out,) = stage.run_outputs(arts, recipe, tmp_path, env)
    assert out.extra["top_k"] == 3 and out.extra["bytes_on_disk"] > 0
    logits = stage.logits_of([out], tmp_path)
    assert {s: len(v) for s, v in logits.items()} == {
        s: len(getattr(data, s)) for s in ("train", "val", "test")
    }
    dense = stage.load(arts[-1], recipe, tmp_path, env).predict(data.val.x)
    cached = logits["val"][np.arange(len(data.val))]
    top = np.argsort(-dense, axis=1)[:, :3]
    assert np.array_equal(np.argsort(-cached, axis=1)[:, :3], top)
    p, q = _softmax(dense), _softmax(cached)
    assert np.allclose(np.take_along_axis(p, top, 1), np.take_along_axis(q, top, 1), atol=1e-5)


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)
