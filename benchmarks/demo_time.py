"""Wall-clock time of the default run as a user sees it: ``time edgekd compress``.

    python benchmarks/demo_time.py [--quick] [--threads 1 2] [--repeats N] [--json PATH]

Each run is the ``edgekd`` console script in a fresh process (interpreter start-up, imports
and report writing included), with its own empty run directory. "fresh cache" starts from an
empty ``$EDGEKD_CACHE`` (the teacher is trained); "warm cache" reruns with the cache the
fresh run filled (teacher and its outputs read from disk), which is what a user's second
``make demo`` costs. ``--threads`` compares the recipe's ``threads`` setting (``--set
threads=N``); the table also gives CPU seconds (user + system of the process tree) and the
load average around each run, because on a shared machine other jobs change the wall time.
``--quick`` runs the same pipeline with 3-epoch training (a smoke test of the script, not the
README's number).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import print_table, write_json  # noqa: E402

QUICK = ["teacher.fit.epochs=3", "distill.epochs=3", "prune.fine_tune.epochs=2"]


def edgekd_exe() -> str:
    """The ``edgekd`` script next to this interpreter (the venv's), else the one on PATH."""
    here = Path(sys.executable).with_name("edgekd")
    return str(here) if here.is_file() else (shutil.which("edgekd") or "edgekd")


def run_once(cache: Path, threads: int, quick: bool) -> dict[str, Any]:
    """One ``edgekd compress`` process: wall and CPU seconds, load average, stage times."""
    import json

    sets = [f"threads={threads}", *(QUICK if quick else [])]
    with tempfile.TemporaryDirectory(prefix="edgekd-demo-time-") as out:
        cmd = [edgekd_exe(), "compress", "--out", out, "--quiet"]
        for s in sets:
            cmd += ["--set", s]
        env = dict(os.environ, EDGEKD_CACHE=str(cache))
        load_before = os.getloadavg()[0]
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
        (run,) = Path(out).iterdir()
        stages = json.loads((run / "manifest.json").read_text())["stages"]
    return {
        "wall_s": wall,
        "cpu_s": (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "stages_s": {k: v.get("seconds") for k, v in stages.items()},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3-epoch training (script smoke test)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1], help="recipe threads to try")
    ap.add_argument("--repeats", type=int, default=1, help="runs per (threads, cache) cell")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    rows, runs = [], []
    for threads in a.threads:
        for _ in range(a.repeats):
            with tempfile.TemporaryDirectory(prefix="edgekd-demo-cache-") as cache:
                for cache_state in ("fresh", "warm"):  # warm reuses what fresh just filled
                    r = run_once(Path(cache), threads, a.quick)
                    runs.append({"threads": threads, "cache": cache_state, **r})
    for threads in a.threads:
        for cache_state in ("fresh", "warm"):
            cell = [r for r in runs if r["threads"] == threads and r["cache"] == cache_state]
            walls = [r["wall_s"] for r in cell]
            stages = cell[-1]["stages_s"]
            rows.append(
                {
                    "threads": threads,
                    "cache": cache_state,
                    "runs": len(cell),
                    "wall_s_median": statistics.median(walls),
                    "wall_s_min": min(walls),
                    "cpu_s_median": statistics.median(r["cpu_s"] for r in cell),
                    "load_avg": max(max(r["load_before"], r["load_after"]) for r in cell),
                    "teacher_s": stages.get("teacher"),
                    "distill_s": stages.get("distill"),
                    "baseline_s": stages.get("baseline"),
                    "prune_s": stages.get("prune"),
                    "export_tflite_s": stages.get("export_tflite"),
                }
            )
    title = "edgekd compress (default recipe" + (", --quick: 3 epochs)" if a.quick else ")")
    title += f", wall clock incl. start-up, {os.cpu_count()} CPUs"
    print_table(title, list(rows[0]), [list(r.values()) for r in rows])
    write_json(
        a.json,
        {
            "quick": a.quick,
            "cpus": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "rows": rows,
            "runs": runs,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
