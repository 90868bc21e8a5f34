"""``edgekd compress --nproc N``: what the launcher refuses, and how it names a failed rank."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

from edgekd.distributed.launch import failure_error, strip_nproc, torchrun_args


def _failed(rank: int, code: int) -> ProcessFailure:
    return ProcessFailure(local_rank=rank, pid=1000 + rank, exitcode=code, error_file="<N/A>")


def test_the_torchrun_command_runs_this_module_without_nproc():
    argv = strip_nproc(["compress", "r.yaml", "--nproc", "2", "--set", "a=1", "--nproc=3"])
    assert argv == ["compress", "r.yaml", "--set", "a=1"]
    assert torchrun_args(2, argv) == [
        "--standalone", "--nproc-per-node=2", "-m", "edgekd", *argv
    ]  # fmt: skip


def test_a_killed_rank_is_named_first_and_resume_is_offered():
    failures = {0: _failed(0, -signal.SIGTERM), 1: _failed(1, -signal.SIGKILL)}
    err = failure_error(failures, 2, ["compress", "r.yaml"])
    msg = str(err)
    assert msg.startswith("distributed run failed: rank 1 (pid 1001) was killed by signal SIGKILL")
    assert "rank 0 (pid 1000) was killed by signal SIGTERM" in msg
    assert "edgekd compress r.yaml --nproc=2 --resume" in msg
    assert err.exit_code == 1


@pytest.mark.parametrize("code", [2, 3, 130])
def test_rank_zero_keeps_its_own_exit_code(code):
    err = failure_error({0: _failed(0, code)}, 2, ["compress"])
    assert err.exit_code == code and "rank 0 (pid 1000) exited with code" in str(err)


def test_batch_size_not_divisible_by_nproc_exits_2(cli):
    res = cli("compress", "--nproc", "3", "--set", "distill.batch_size=64")
    assert res.exit_code == 2
    assert "distill.batch_size: 64 is not a multiple of the 3 processes" in res.stderr


def test_nproc_inside_a_launched_process_exits_2(cli, monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    res = cli("compress", "--nproc", "2")
    assert res.exit_code == 2 and "already started by a launcher" in res.stderr


def test_nproc_must_be_positive(cli):
    res = cli("compress", "--nproc", "0")
    assert res.exit_code == 2 and "--nproc" in res.stderr


def test_python_m_edgekd_is_the_cli():
    proc = subprocess.run(
        [sys.executable, "-m", "edgekd", "compress", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "--nproc" in proc.stdout


@pytest.mark.slow
def test_accelerate_launch_runs_compress_on_two_processes(tmp_path):
    """``accelerate launch --multi_gpu`` is torchrun underneath; on CPU the ranks use gloo.
    (``python -m accelerate.commands.launch`` is the ``accelerate launch`` script.)"""
    sets = ["teacher.fit.epochs=2", "teacher.width=4", "distill.epochs=2", "distill.baseline=false"]
    sets += ["prune.method=none", "quantize.method=none", "export.formats=[onnx]"]
    sets += ["targets.names=[]", "targets.measure=false"]
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu"]
    cmd += ["--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no"]
    cmd += ["--dynamo_backend", "no", "-m", "edgekd", "compress", "--quiet", "--out", str(tmp_path)]
    cmd += [a for s in sets for a in ("--set", s)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (manifest,) = tmp_path.glob("*/manifest.json")
    m = json.loads(manifest.read_text())
    assert m["status"] == "complete"
    assert m["distributed"]["world_size"] == 2 and m["distributed"]["backend"] == "gloo"
    assert [r["rank"] for r in m["stages"]["distill"]["ranks"]] == [0, 1]
