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
            "prune.steps=1",
            "prune.fine_tune.epochs=1",
            "export.tflite.precision=[fp32]",
            "targets.measure=false",
            "targets.names=[]",
        ],
    )


def _art(result, artifact_id: str) -> dict:
    return next(a for a in result.manifest["artifacts"] if a["id"] == artifact_id)


@pytest.mark.slow
def test_second_run_never_calls_the_teacher(tmp_path, monkeypatch):
    r = fast_recipe(tmp_path)
    first = compress(r, out_dir=tmp_path / "runs")
    outputs = _art(first, "teacher-outputs")
    assert (
        outputs["extra"]["cache_hit"] is False and outputs["path"] == "teacher/outputs/index.json"
    )
    assert _art(first, "teacher")["extra"]["cache_hit"] is False  # teacher was trained

    def forbidden(self, x):
        raise AssertionError("the teacher was called on the second run")

    monkeypatch.setattr(teacher_load.Teacher, "predict", forbidden)
    second = compress(r, out_dir=tmp_path / "runs")
    outputs = _art(second, "teacher-outputs")
    assert outputs["extra"]["cache_hit"] is True
    assert _art(second, "teacher")["extra"]["cache_hit"] is True  # teacher not retrained
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
    assert _art(second, "teacher-outputs")["extra"]["bytes_on_disk"] > train.nbytes
    # the run directory holds the same shards (linked or copied), read memory-mapped
    linked = np.load(second.run_dir / "teacher" / "outputs" / "train-00000.logits.npy")
    assert np.array_equal(linked, train)
