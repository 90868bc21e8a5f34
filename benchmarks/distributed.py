"""Distillation on 1 and 2 processes: ``edgekd compress`` vs ``edgekd compress --nproc N``.

    python benchmarks/distributed.py [--quick] [--json PATH]

Each setting is a fresh ``edgekd`` process on the digits recipe cut down to what training
costs (distillation with its teacher-output cache already filled: no baseline, pruning,
quantization or TFLite; ONNX export and evaluation stay so accuracy is the shipped file's).
"plain" is a single process without torchrun; "--nproc 1" and "--nproc 2" run the same
command under torchrun (``torch.distributed``, gloo, DDP). The table gives the wall time of
the whole command, the distill pass's time (from the manifest) and its training throughput
(epochs x train samples / distill seconds), the slowest rank, and the student's test accuracy.

A second table does the same for a causal-LM student (``task: causal_lm``): a tiny Llama
teacher built from a config (``tests/lm_fixtures.py``: 4 layers, hidden 32, a 300-token BPE)
answers 40 prompts with top-5 log-probs; the student (its layers 0 and 3) learns with SFT +
forward KL from those log-probs for a fixed number of steps. Rows: ``--nproc 1`` and
``--nproc 2`` with DDP, and (full run) ``--nproc 2`` with FSDP2 (``distill.lm.strategy:
fsdp``). Throughput is learned tokens per second of the training loop (the manifest's
``training.tokens / training.seconds``, validation included).

Honest about the hardware: this machine has 2 CPU cores shared with other jobs, so 2
processes can at best halve the distill time and usually do not (gloo all-reduce every step,
one core each, other tenants); the load average is recorded with each row. Tiny students
(digits CNN, width 8) are communication-bound; a wider student shows the compute-bound case.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import parse_args, print_table, write_json  # noqa: E402

TRAIN_ONLY = [
    "distill.baseline=false",
    "prune.method=none",
    "quantize.method=none",
    "export.formats=[onnx]",
    "targets.names=[]",
    "targets.measure=false",
]
SETTINGS = [("plain", None), ("--nproc 1", 1), ("--nproc 2", 2)]


def run_once(cache: Path, sets: list[str], nproc: int | None) -> dict[str, Any]:
    """One ``python -m edgekd compress`` (with ``--nproc``): wall time and manifest numbers."""
    with tempfile.TemporaryDirectory(prefix="edgekd-bench-dist-") as out:
        cmd = [sys.executable, "-m", "edgekd", "compress", "--out", out, "--quiet"]
        for s in sets:
            cmd += ["--set", s]
        if nproc is not None:
            cmd += ["--nproc", str(nproc)]
        env = dict(os.environ, EDGEKD_CACHE=str(cache), OMP_NUM_THREADS="1")
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
        (run,) = Path(out).iterdir()
        manifest = json.loads((run / "manifest.json").read_text())
    stage = manifest["stages"]["distill"]
    student = next(a for a in manifest["artifacts"] if a["id"] == "student")
    ranks = stage.get("ranks") or [{"rank": 0, "seconds": stage["seconds"]}]
    return {
        "wall_s": wall,
        "distill_s": stage["seconds"],
        "slowest_rank_s": max(r["seconds"] for r in ranks),
        "ranks": ranks,
        "world_size": (manifest.get("distributed") or {}).get("world_size", 1),
        "test_accuracy": student["metrics"].get("accuracy"),
        "epochs": len(student["extra"]["history"]["train_loss"]),
        "load_before": load,
    }


def lm_runs(quick: bool) -> tuple[list[list[Any]], list[dict[str, Any]], int]:
    """The LM table: (rows, results, steps)."""
    import yaml

    from tests.lm_fixtures import build_llama, generate_dataset

    steps = 30 if quick else 120
    settings = [("--nproc 1", 1, "ddp"), ("--nproc 2", 2, "ddp")]
    if not quick:
        settings.append(("--nproc 2 fsdp", 2, "fsdp"))
    rows, results = [], []
    with tempfile.TemporaryDirectory(prefix="edgekd-bench-dist-lm-") as tmp:
        teacher = build_llama(Path(tmp) / "teacher")
        data = generate_dataset(teacher, Path(tmp) / "answers.jsonl")
        for name, nproc, strategy in settings:
            recipe = {
                "task": "causal_lm",
                "data": {"source": "completions", "path": str(data)},
                "teacher": {"model": f"hf:{teacher}"},
                "student": {"init_from_teacher": {"layers": [0, 3]}},
                "distill": {"lm": {
                    "steps": steps, "eval_every": steps, "batch_size": 8, "lr": 3e-3,
                    "max_length": 64, "strategy": strategy,
                }},
                "evaluate": {"lm": {"max_new_tokens": 8, "prompts": 4}},
            }  # fmt: skip
            path = Path(tmp) / f"lm-{nproc}-{strategy}.yaml"
            path.write_text(yaml.safe_dump(recipe))
            r = run_lm(path, Path(tmp) / "cache", nproc)
            r.update(setting=name, strategy=strategy, steps=steps)
            results.append(r)
            rows.append([
                "llama 2x32", name, r["wall_s"], r["distill_s"], r["train_s"],
                r["tokens_per_s"], r["final_loss"], r["kl"], r["load_before"],
            ])  # fmt: skip
    return rows, results, steps


def run_lm(recipe: Path, cache: Path, nproc: int) -> dict[str, Any]:
    """One ``python -m edgekd compress LM.yaml --nproc N``: wall time and manifest numbers."""
    with tempfile.TemporaryDirectory(prefix="edgekd-bench-dist-") as out:
        cmd = [sys.executable, "-m", "edgekd", "compress", str(recipe), "--out", out, "--quiet"]
        cmd += ["--nproc", str(nproc)]
        env = dict(os.environ, EDGEKD_CACHE=str(cache), OMP_NUM_THREADS="1")
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
        (run,) = Path(out).iterdir()
        manifest = json.loads((run / "manifest.json").read_text())
    student = next(a for a in manifest["artifacts"] if a["id"] == "student")
    training = student["extra"]["training"]
    return {
        "wall_s": wall,
        "distill_s": manifest["stages"]["distill"]["seconds"],
        "ranks": manifest["stages"]["distill"].get("ranks"),
        "world_size": manifest["distributed"]["world_size"],
        "train_s": training["seconds"],
        "tokens": training["tokens"],
        "tokens_per_s": training["tokens"] / training["seconds"],
        "final_loss": training["loss"][-1],
        "kl": student["metrics"].get("kl"),
        "load_before": load,
    }


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    from edgekd.data.config import DataConfig
    from edgekd.data.loaders import load_data

    n_train = len(load_data(DataConfig(source="digits")).train)
    epochs = 5 if args.quick else 30
    widths = [8] if args.quick else [8, 32]
    cache = Path(tempfile.mkdtemp(prefix="edgekd-bench-dist-cache-"))
    rows, results = [], []
    try:
        warm = ["distill.epochs=1", *TRAIN_ONLY]
        if args.quick:
            warm += ["teacher.fit.epochs=5"]
        run_once(cache, warm, None)  # trains the teacher and fills its outputs: not timed
        for width in widths:
            sets = [f"distill.epochs={epochs}", f"student.width={width}", *TRAIN_ONLY]
            if args.quick:
                sets += ["teacher.fit.epochs=5"]
            base = None
            for name, nproc in SETTINGS:
                r = run_once(cache, sets, nproc)
                r.update(setting=name, student_width=width, train_samples=n_train)
                r["samples_per_s"] = epochs * n_train / r["distill_s"]
                base = base or r["distill_s"]
                r["distill_speedup_vs_plain"] = base / r["distill_s"]
                results.append(r)
                rows.append([
                    f"cnn w{width}", name, r["wall_s"], r["distill_s"], r["slowest_rank_s"],
                    r["samples_per_s"], r["distill_speedup_vs_plain"], r["test_accuracy"],
                    r["load_before"],
                ])  # fmt: skip
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    print_table(
        f"Distillation on digits ({epochs} epochs, {n_train} train samples, global batch 64), "
        f"{os.cpu_count()} CPU cores shared with other jobs",
        ["student", "setting", "wall s", "distill s", "slowest rank s", "samples/s",
         "speedup", "test acc", "load"],
        rows,
    )  # fmt: skip
    lm_rows, lm_results, steps = lm_runs(args.quick)
    print_table(
        f"Causal-LM distillation ({steps} steps, global batch 8 records), "
        f"{os.cpu_count()} CPU cores shared with other jobs",
        ["student", "setting", "wall s", "distill s", "train s", "tokens/s", "final loss",
         "held-out KL", "load"],
        lm_rows,
    )  # fmt: skip
    write_json(
        args.json,
        {
            "quick": args.quick,
            "epochs": epochs,
            "cpu_count": os.cpu_count(),
            "runs": results,
            "lm_steps": steps,
            "lm_runs": lm_results,
        },
    )


if __name__ == "__main__":
    main()
