"""An interrupted run continues from its last finished stage and epoch checkpoint."""

import pytest

from edgekd.pipeline.compress import compress
from edgekd.progress import NullReporter
from edgekd.recipe.load import load_recipe


class InterruptDistillation(NullReporter):
    """Raises KeyboardInterrupt (as Ctrl-C would) after epoch 2 of the distillation."""

    def task(self, description, total):
        outer = super().task(description, total)

        class T:
            def update(self, completed, info=""):
                if description == "distill student" and completed == 2:
                    raise KeyboardInterrupt
                outer.update(completed, info)

            def close(self):
                outer.close()

        return T()


@pytest.mark.slow
def test_resume_continues_an_interrupted_distillation(tmp_path):
    r = load_recipe(
        None,
        [
            "teacher.fit.epochs=2",
            "teacher.width=4",
            "distill.epochs=4",
            "prune.steps=1",
            "prune.fine_tune.epochs=2",
            "export.tflite.precision=[fp32]",
            "targets.measure=false",
            "targets.names=[]",
        ],
    )
    with pytest.raises(KeyboardInterrupt):
        compress(r, out_dir=tmp_path, reporter=InterruptDistillation())
    (run,) = tmp_path.iterdir()
    assert (run / "checkpoints" / "student.pt").is_file()
    assert not (run / "student.safetensors").exists()  # no half result that looks whole

    result = compress(r, out_dir=tmp_path, resume=True)
    assert result.run_dir == run
    m = result.manifest
    assert m["status"] == "complete"
    student = next(a for a in m["artifacts"] if a["id"] == "student")
    assert len(student["extra"]["history"]["train_loss"]) == 4  # 2 before + 2 after resuming
    # the passes that finished before the interrupt were skipped, not run again
    assert m["attempts"][-1]["skipped"] == ["data", "teacher", "teacher_outputs"]
    assert m["stages"]["teacher_outputs"]["attempt"] == 1 and m["stages"]["distill"]["attempt"] == 2


def test_resume_without_an_unfinished_run_is_a_usage_error(tmp_path):
    from edgekd.errors import UsageError

    with pytest.raises(UsageError, match="--resume: no unfinished run"):
        compress(load_recipe(None), out_dir=tmp_path, resume=True)


# a whole default-shaped run (prune, ONNX, int8, TFLite, profile) made small
SMALL = [
    "teacher.fit.epochs=2",
    "teacher.width=4",
    "distill.epochs=3",
    "prune.steps=1",
    "prune.fine_tune.epochs=2",
    "export.tflite.precision=[fp32]",
    "targets.measure=false",
    "targets.names=[pixel-4]",
]


def _manifest(out) -> dict:
    import json

    (path,) = out.glob("*/manifest.json")
    return json.loads(path.read_text())


def _run_until_done(out, stage: str, resume: bool) -> dict:
    """``edgekd compress`` in a subprocess, killed with SIGKILL (no cleanup, no handler) as
    soon as the manifest says ``stage`` is done; returns the manifest it left."""
    import os
    import signal
    import subprocess
    import sys
    import time

    args = [sys.executable, "-m", "edgekd.cli", "compress", "--out", str(out), "--quiet"]
    args += [x for s in SMALL for x in ("--set", s)] + (["--resume"] if resume else [])
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while proc.poll() is None:
            try:
                if _manifest(out)["stages"].get(stage, {}).get("status") == "done":
                    os.kill(proc.pid, signal.SIGKILL)
                    break
            except (ValueError, KeyError):
                pass  # no manifest yet
            time.sleep(0.02)
        proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    return _manifest(out)


@pytest.mark.slow
def test_resume_after_sigkill_reruns_only_the_passes_that_did_not_finish(tmp_path, cli):
    """Killed after distill, resumed and killed after the ONNX export, resumed to the end:
    each pass runs exactly once, in the attempt after the last kill that found it unfinished,
    and the timings of finished passes are the ones they were recorded with."""
    first = _run_until_done(tmp_path, "distill", resume=False)
    done1 = {n: s for n, s in first["stages"].items() if s["status"] == "done"}
    assert {"data", "teacher", "teacher_outputs", "distill"} <= set(done1)
    second = _run_until_done(tmp_path, "export_onnx", resume=True)
    done2 = {n: s for n, s in second["stages"].items() if s["status"] == "done"}
    assert set(done1) < set(done2) and "export_onnx" in done2
    assert second["attempts"][1]["resume"] is True

    r = cli("compress", "--out", str(tmp_path), "--quiet", "--resume", *[
        x for s in SMALL for x in ("--set", s)
    ])  # fmt: skip
    assert r.exit_code == 0, r.stderr
    final = _manifest(tmp_path)
    assert final["status"] == "complete" and len(final["attempts"]) == 3
    stages = final["stages"]
    order = list(stages)
    for name, record in stages.items():
        assert record["status"] == "done", name
        expected = 1 if name in done1 else 2 if name in done2 else 3
        assert record["attempt"] == expected, (name, record["attempt"], expected)
        if name in done2:  # skipped later: the record (and its timing) is the original one
            assert record == done2[name]
    assert final["attempts"][2]["skipped"] == [n for n in order if n in done2]
    assert {"quantize", "export_tflite", "evaluate", "profile"} <= set(order) - set(done2)
    arts = {a["id"]: a for a in final["artifacts"]}
    onnx, parent = arts["student-onnx"]["metrics"], arts["student-pruned"]["metrics"]
    assert onnx["accuracy"] > 0.2  # chance is 0.1; a 2-epoch teacher and 3-epoch student
    assert onnx["accuracy"] == pytest.approx(parent["accuracy"], abs=0.01)  # same model, resumed
    assert not list(tmp_path.rglob("*.part"))
