"""Measure a model on this host in an isolated subprocess (see ``host_worker``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from edgekd.errors import StageError
from edgekd.profile.static import detect_format


def default_host_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def measure_host(
    path: str | Path,
    threads: int | None = None,
    runs: int = 50,
    warmup: int = 5,
    max_seconds: float = 20.0,
    timeout_s: float = 600.0,
    input_shapes: dict[str, list[int]] | None = None,
) -> dict[str, Any]:
    """p50/p90/p99 latency (ms) and peak RSS (bytes) of the model on this machine, fed random
    inputs of ``input_shapes`` (symbolic dims not given there are 1).

    Returns the ``host`` section of ``profile --json``; a runtime that cannot load the
    model gives ``error`` and null latencies rather than an exception.
    """
    fmt = detect_format(path)
    n = threads or default_host_threads()
    cmd = [
        sys.executable, "-m", "edgekd.profile.host_worker", str(path), "--format", fmt,
        "--threads", str(n), "--runs", str(runs), "--warmup", str(warmup),
        "--max-seconds", str(max_seconds),
    ]  # fmt: skip
    for name, shape in (input_shapes or {}).items():
        cmd += ["--input-shape", f"{name}={','.join(map(str, shape))}"]
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", str(n))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        raise StageError(f"host measurement of {path} took longer than {timeout_s:.0f} s") from None
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or "").strip().splitlines()[-1:] or ["no output"]
        return _failed(n, f"worker exited {proc.returncode}: {tail[0]}")
    out = json.loads(lines[-1])
    if "error" in out:
        return _failed(n, out["error"])
    return out


def _failed(threads: int, error: str) -> dict[str, Any]:
    return {
        "latency_ms": {"p50": None, "p90": None, "p99": None},
        "peak_rss_bytes": None,
        "threads": threads,
        "error": error,
    }
