"""The run directory's manifest knows which process writes it, and lists only real files."""

import platform
import subprocess
import sys
import time

from edgekd.rundir import RunDir, process_alive, this_process


def test_process_alive_tells_a_running_process_from_an_ended_or_reused_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        from edgekd.rundir import _start_ticks

        info = {"pid": proc.pid, "host": platform.node(), "start_ticks": _start_ticks(proc.pid)}
        assert process_alive(info) is True
        if info["start_ticks"] is not None:  # Linux: a pid reused by another process
            assert process_alive({**info, "start_ticks": info["start_ticks"] - 1}) is False
        assert process_alive({**info, "host": "elsewhere.invalid"}) is None
    finally:
        proc.kill()
    deadline = time.monotonic() + 10  # the signal is delivered asynchronously
    while process_alive(info) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process_alive(info) is False  # killed, not yet reaped: a zombie
    proc.wait()
    assert process_alive(info) is False
    assert process_alive(this_process()) is False  # this process is not running that run


def test_manifest_lists_files_but_not_temporaries_or_checkpoints(tmp_path):
    out = tmp_path / "x.part" / "checkpoints"  # odd names above the run must not matter
    run = RunDir.create(out, "r", {"output": {"name": "r"}})
    (run.path / "a.onnx").write_bytes(b"a")
    (run.path / ".a.onnx.1234.part").write_bytes(b"")
    (run.path / "checkpoints").mkdir()
    (run.path / "checkpoints" / "student.pt").write_bytes(b"c")
    (run.path / ".guard.abcd.part").mkdir()
    (run.path / ".guard.abcd.part" / "attempt0.onnx").write_bytes(b"q")
    run.save()
    assert list(run.manifest["files"]) == ["a.onnx"]
    assert run.manifest["process"]["pid"] > 0
