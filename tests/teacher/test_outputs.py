"""The teacher runs once per (teacher, data): later runs read its outputs from the cache."""

import numpy as np
import pytest

from edgekd.pipeline.compress import compress
from edgekd.recipe.load import load_recipe
from edgekd.teacher import load as teacher_load


def fast_recipe(tmp_path):
    return load_recipe(
        None,
        [
            f"output.cache_dir={tmp_path / 'cache'}",
            "teacher.fit.epochs=2",
            "teacher.width=4",
            "distill.epochs=1",
            "distill.baseline=false",
            "targets.measure=false",
            "targets.names=[]",
        ],
    )


@pytest.mark.slow
def test_second_run_never_calls_the_teacher(tmp_path, monkeypatch):
    r = fast_recipe(tmp_path)
    first = compress(r, out_dir=tmp_path / "runs")
    assert first.manifest["teacher_outputs"]["cache_hit"] is False
    assert first.manifest["artifacts"][0]["extra"]["cache_hit"] is False  # teacher was trained

    def forbidden(self, x):
        raise AssertionError("the teacher was called on the second run")

    monkeypatch.setattr(teacher_load.Teacher, "predict", forbidden)
    second = compress(r, out_dir=tmp_path / "runs")
    assert second.manifest["teacher_outputs"]["cache_hit"] is True
    assert second.manifest["artifacts"][0]["extra"]["cache_hit"] is True  # teacher not retrained
    t1 = next(a for a in first.report["artifacts"] if a["id"] == "teacher")
    t2 = next(a for a in second.report["artifacts"] if a["id"] == "teacher")
    assert t1["metrics"] == t2["metrics"] and t1["sha256"] == t2["sha256"]
    events = {(e["kind"], e["hit"]) for e in second.manifest["cache"]}
    assert events == {("teachers", True), ("teacher-outputs", True)}  # recorded in the manifest
    entries = list((tmp_path / "cache" / "teacher-outputs").glob("*.d"))
    assert len(entries) == 1  # one sharded entry: index.json + one .npy shard per split
    assert (entries[0] / "index.json").is_file()
    train = np.load(entries[0] / "train-00000.logits.npy")
    assert train.shape == (1167, 10)
    assert second.manifest["teacher_outputs"]["bytes_on_disk"] > train.nbytes
