"""``edgekd compress --nproc 2`` end to end: a rank killed mid-distillation stops the job
within a bounded time with a message naming it, and ``--resume`` (here on one process: a
different N) completes the run from the last epoch checkpoint rank 0 wrote."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import invoke

RECIPE = [
    "teacher.fit.epochs=2",
    "teacher.width=4",
    "student.width=4",
    "distill.epochs=40",
    "distill.baseline=false",
    "prune.method=none",
    "quantize.method=none",
    "export.formats=[onnx]",
    "targets.names=[]",
    "targets.measure=false",
]
STOP_WITHIN_S = 60  # from SIGKILL to the launcher's exit: torchrun notices in ~0.1 s


def _sets() -> list[str]:
    return [a for s in RECIPE for a in ("--set", s)]


def _rank_pid(launcher: int, rank: int) -> int | None:
    """The pid of the launcher's worker process with RANK=rank."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat[1]) == launcher and f"RANK={rank}".encode() in environ:
            return int(entry.name)
    return None


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_killed_rank_stops_the_job_and_resume_completes_it(tmp_path):
    out, env = tmp_path / "runs", {**os.environ, "OMP_NUM_THREADS": "1"}
    args = ["compress", "--quiet", "--out", str(out), *_sets()]
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgekd", *args, "--nproc", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ckpt = _wait_for(
            lambda: next(out.glob("*/checkpoints/student.pt"), None), 300, "the first epoch"
        )
        pid = _wait_for(lambda: _rank_pid(proc.pid, 1), 10, "rank 1's process")
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        _, err = proc.communicate(timeout=STOP_WITHIN_S + 30)
        assert time.monotonic() - killed < STOP_WITHIN_S
    finally:
        proc.kill()
    assert proc.returncode == 1, err[-2000:]
    assert f"rank 1 (pid {pid}) was killed by signal SIGKILL" in err
    assert "--nproc=2 --resume" in err
    run = ckpt.parent.parent
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["distributed"]["world_size"] == 2
    assert manifest["distributed"]["backend"] == "gloo"
    ranks = manifest["stages"]["teacher_outputs"]["ranks"]
    assert [r["rank"] for r in ranks] == [0, 1] and all(r["seconds"] >= 0 for r in ranks)
    assert manifest["stages"]["distill"]["status"] != "done"
    assert not (run / "student.safetensors").exists()
    state = torch.load(ckpt, weights_only=True)  # what rank 0 saved at its last epoch end
    assert state["sampler"]["world_size"] == 2 and 1 <= state["sampler"]["epoch"] < 40
    assert state["optimizer"]["state"]  # Adam's moments travel with the weights

    res = invoke(*args, "--resume")  # one process now: the checkpoint does not depend on N
    assert res.exit_code == 0, res.stderr
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["resumes"][-1]["from_stage"] == "distill"
    student = next(a for a in manifest["artifacts"] if a["id"] == "student")
    assert len(student["extra"]["history"]["train_loss"]) == 40
