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


def probe_threads(threads: list[int], epochs: int, rounds: int = 3) -> list[dict[str, Any]]:
    """The training loop alone (the default student, ``epochs`` epochs of hard-label training
    on digits) under each thread count, interleaved ``rounds`` times so that other jobs on a
    shared machine weigh on every setting alike: wall and CPU seconds per setting."""
    import torch

    from edgekd.data.loaders import load_data
    from edgekd.models.zoo import build_model
    from edgekd.train.config import TrainConfig
    from edgekd.train.loop import fit
    from edgekd.train.threads import torch_threads

    data = load_data()
    out: dict[int, dict[str, list[float]]] = {n: {"wall": [], "cpu": []} for n in threads}
    for _ in range(rounds):
        for n in threads:
            torch.manual_seed(0)
            model = build_model("cnn", data.input_shape, data.num_classes, width=8, depth=2)
            with torch_threads(n):
                t0, c0 = time.perf_counter(), time.process_time()
                fit(model, data.train, data.val, TrainConfig(epochs=epochs))
                out[n]["wall"].append(time.perf_counter() - t0)
                out[n]["cpu"].append(time.process_time() - c0)
    return [
        {
            "threads": n,
            "epochs": epochs,
            "rounds": rounds,
            "wall_s_median": statistics.median(v["wall"]),
            "cpu_s_median": statistics.median(v["cpu"]),
            "wall_s": v["wall"],
        }
        for n, v in out.items()
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3-epoch training (script smoke test)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1], help="recipe threads to try")
    ap.add_argument("--repeats", type=int, default=1, help="runs per (threads, cache) cell")
    ap.add_argument(
        "--probe-epochs",
        type=int,
        default=0,
        help="also time the training loop alone per --threads (interleaved A/B)",
    )
    ap.add_argument("--no-e2e", action="store_true", help="only the --probe-epochs timing")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    probe = probe_threads(a.threads, a.probe_epochs) if a.probe_epochs else []
    if probe:
        cols = ["threads", "epochs", "rounds", "wall_s_median", "cpu_s_median"]
        print_table(f"training loop alone, load average {os.getloadavg()[0]:.1f}", cols,
                    [[r[c] for c in cols] for r in probe])  # fmt: skip
    if a.no_e2e:
        write_json(a.json, {"date": time.strftime("%Y-%m-%d %H:%M"), "probe": probe})
        return 0
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
            "probe": probe,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
