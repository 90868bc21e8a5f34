"""An interrupted run continues from its last finished stage and epoch checkpoint."""

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgekd.pipeline.compress import compress
from edgekd.progress import NullReporter
from edgekd.recipe.load import load_recipe
from tests.conftest import FAST


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
WHOLE_RUN = [
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
    args += [x for s in WHOLE_RUN for x in ("--set", s)] + (["--resume"] if resume else [])
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
        x for s in WHOLE_RUN for x in ("--set", s)
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


# -- Ctrl-C and SIGKILL of a real `edgekd compress` process ---------------------------------

SMALL = [
    *FAST,
    *("--set", "distill.epochs=40", "--set", "distill.baseline=false"),
    *("--set", "prune.method=none", "--set", "quantize.method=none"),
    *("--set", "export.formats=[onnx]", "--set", "targets.names=[]"),
]


def start_compress(out: Path, *args: str) -> subprocess.Popen:
    """``edgekd compress`` in its own process, as a user starts it from a terminal."""
    return subprocess.Popen(
        [sys.executable, "-m", "edgekd.cli", "compress", "--out", str(out), "--quiet", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell that started pytest in the background may have SIGINT ignored, which the
        # child would inherit; a terminal's Ctrl-C reaches a process with the default handler
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for_training(proc: subprocess.Popen, out: Path) -> Path:
    """The run directory, once the student's first epoch checkpoint exists."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        found = list(out.glob("*/checkpoints/student.pt"))
        if found:
            return found[0].parents[1]
        if proc.poll() is not None:
            pytest.fail(f"compress exited {proc.returncode} before training: {proc.stderr.read()}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail("no checkpoint after 600 s")


def manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


@pytest.mark.slow
def test_ctrl_c_exits_130_with_one_line_naming_the_run_and_the_resume_command(cli, tmp_path):
    out = tmp_path / "runs"
    proc = start_compress(out, *SMALL)
    run = wait_for_training(proc, out)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert stdout == ""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"interrupted: run directory {run} kept"), lines[0]
    command = lines[0].split("resume with: ", 1)[1]
    m = manifest(run)
    assert m["status"] == "interrupted"
    assert m["stages"]["distill"]["status"] == "interrupted"

    # the printed command, as written, continues this run from its checkpoint
    argv = shlex.split(command)
    assert argv[:2] == ["edgekd", "compress"] and argv[-1] == "--resume"
    r = cli(*argv[1:])
    assert r.exit_code == 0, r.stderr
    m = manifest(run)
    assert m["status"] == "complete"
    (resumed,) = m["resumes"]
    assert resumed["from_stage"] == "distill" and resumed["previous_status"] == "interrupted"
    assert resumed["killed"] is False
    student = next(a for a in m["artifacts"] if a["id"] == "student")
    assert len(student["extra"]["history"]["train_loss"]) == 40
    assert [p.name for p in out.iterdir()] == [run.name]  # no second run directory


@pytest.mark.slow
def test_resume_after_sigkill_cleans_temporaries_and_records_the_kill(cli, tmp_path):
    out = tmp_path / "runs"
    proc = start_compress(out, *SMALL)
    run = wait_for_training(proc, out)
    # while the process lives, its run is not resumable
    r = cli("compress", "--out", str(out), *SMALL, "--resume")
    assert r.exit_code == 2 and f"{run} is still running (pid {proc.pid})" in r.stderr
    # a kill in the middle of an atomic write leaves its temporary behind; which write a real
    # SIGKILL lands in is chance, so leave one of each kind where edgekd writes them
    stale = [run / "checkpoints" / ".student.pt.0badc0de.part", run / ".report.json.1a2b.part"]
    for p in stale:
        p.write_bytes(b"")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert manifest(run)["status"] == "running"  # what a killed process leaves

    r = cli("compress", "--out", str(out), *SMALL, "--resume")
    assert r.exit_code == 0, r.stderr
    assert not [p for p in run.rglob("*") if p.name.endswith(".part")]
    m = manifest(run)
    assert m["status"] == "complete"
    (resumed,) = m["resumes"]
    assert resumed["killed"] is True and resumed["previous_status"] == "interrupted"
    assert resumed["from_stage"] == "distill"
    assert resumed["previous_process"]["pid"] == proc.pid
    assert set(resumed["removed_temporaries"]) >= {str(p.relative_to(run)) for p in stale}
    assert m["process"]["pid"] == os.getpid()


# -- which run --resume picks, and what it says when none matches ---------------------------


def make_run(out: Path, overrides: list[str], status: str) -> Path:
    from edgekd.rundir import RunDir

    recipe = load_recipe(None, overrides)
    run = RunDir.create(out, recipe.output.name, recipe.model_dump(mode="json"))
    run.manifest["status"] = status
    run.save()
    return run.path


def test_resume_without_a_matching_run_lists_unfinished_runs_and_their_differences(cli, tmp_path):
    out = tmp_path / "runs"
    three = make_run(out, ["distill.epochs=3"], "interrupted")
    other = make_run(out, ["distill.epochs=3", "distill.temperature=2", "output.name=x"], "failed")
    make_run(out, ["distill.epochs=7"], "complete")
    r = cli("compress", "--out", str(out), "--set", "distill.epochs=5", "--resume")
    assert r.exit_code == 2 and "Traceback" not in r.stderr
    assert "the same --set flags" in r.stderr
    lines = r.stderr.strip().splitlines()
    assert f"  {three.name}: distill.epochs 3 (now 5)" in lines
    (line,) = [ln for ln in lines if ln.startswith(f"  {other.name}: ")]
    assert set(line.split(": ", 1)[1].split(", ")) == {
        "distill.temperature 2.0 (now 4.0)",
        "distill.epochs 3 (now 5)",
        "output.name x (now digits)",
    }
    assert not any("distill.epochs 7" in ln for ln in lines)  # complete runs are not listed
