"""Wall time of ``edgekd profile`` (whole CLI process) on MobileNetV2 ONNX and 5 targets.

    python benchmarks/profile_speed.py [--quick] [--json PATH]

Goals: < 3 s with ``--no-measure``, < 30 s with host measurement. The zoo export is built
once first (and timed separately); each mode then runs ``--repeats`` times (1 with
``--quick``, else 3) and the table shows min / median / max seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgekd.fileio import atomic_write_json  # noqa: E402
from edgekd.profile.calibration import format_table  # noqa: E402

TARGETS = ["pixel-4", "rpi-5", "jetson-nano", "nucleo-h7a3zi", "esp32-s3"]
MODEL = "zoo:mobilenet_v2_1.0"


def _run(extra: list[str]) -> float:
    cmd = [sys.executable, "-m", "edgekd.profile.cli", "profile", MODEL, "--json", *extra]
    for t in TARGETS:
        cmd += ["--target", t]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    repeats = a.repeats or (1 if a.quick else 3)
    first = _run(["--no-measure"])  # builds the zoo export if it is not cached
    rows = [{"mode": "first use (incl. export if uncached)", "runs": 1, "min_s": first,
             "median_s": first, "max_s": first, "goal_s": None}]  # fmt: skip
    for mode, extra, goal in (("--no-measure", ["--no-measure"], 3.0), ("measure", [], 30.0)):
        times = [_run(extra) for _ in range(repeats)]
        med = statistics.median(times)
        rows.append({"mode": mode, "runs": repeats, "min_s": min(times), "median_s": med,
                     "max_s": max(times), "goal_s": goal})  # fmt: skip
    print(f"edgekd profile {MODEL} on {', '.join(TARGETS)} ({os.cpu_count()} CPUs)")
    print(format_table(rows, ["mode", "runs", "min_s", "median_s", "max_s", "goal_s"]))
    if a.json:
        atomic_write_json(a.json, {"model": MODEL, "targets": TARGETS, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
