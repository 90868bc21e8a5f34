"""Default recipe on digits over several seeds: teacher vs distilled student vs baseline.

python benchmarks/kd_digits.py [--quick] [--json PATH]

Each seed changes the data split and every training seed. Also times the whole default
run (`edgekd compress` after set-up) and `edgekd --help`.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import parse_args, print_table, write_json  # noqa: E402


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    from edgekd.pipeline.compress import compress
    from edgekd.recipe.load import load_recipe

    seeds = [0, 1, 2] if args.quick else [0, 1, 2, 3, 4]
    rows, per_seed = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            sets = [
                f"data.seed={seed}",
                f"teacher.fit.seed={seed}",
                f"distill.seed={seed}",
                "targets.measure=false",
                f"output.cache_dir={tmp}/cache",
            ]
            start = time.perf_counter()
            result = compress(load_recipe(None, sets), out_dir=Path(tmp) / "runs")
            wall = time.perf_counter() - start
            arts = {a["id"]: a for a in result.report["artifacts"]}
            rec = {
                "seed": seed,
                "teacher_accuracy": arts["teacher"]["metrics"]["accuracy"],
                "student_accuracy": arts["student"]["metrics"]["accuracy"],
                "student_onnx_accuracy": arts["student-onnx"]["metrics"]["accuracy"],
                "baseline_accuracy": arts["baseline"]["metrics"]["accuracy"],
                "student_agreement": arts["student"]["metrics"]["agreement"],
                "baseline_agreement": arts["baseline"]["metrics"]["agreement"],
                "teacher_params": arts["teacher"]["params"],
                "student_params": arts["student"]["params"],
                "wall_s": wall,
                "stage_seconds": result.report["stages"],
            }
            per_seed.append(rec)
            rows.append(
                [
                    seed,
                    rec["teacher_accuracy"],
                    rec["baseline_accuracy"],
                    rec["student_accuracy"],
                    rec["student_onnx_accuracy"],
                    rec["student_agreement"],
                    round(wall, 1),
                ]
            )
        print_table(
            "Per seed (test accuracy)",
            [
                "seed",
                "teacher",
                "baseline",
                "distilled",
                "shipped ONNX (pruned)",
                "agreement",
                "wall s",
            ],
            rows,
        )

        # the demo's end-to-end time: a fresh cache, then the cached rerun
        demo = {}
        for label in ("cold cache", "warm cache"):
            start = time.perf_counter()
            compress(
                load_recipe(None, [f"output.cache_dir={tmp}/demo-cache"]),
                out_dir=Path(tmp) / "demo",
            )
            demo[label] = time.perf_counter() - start

    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "edgekd.cli", "--help"], check=True, capture_output=True)
    help_s = time.perf_counter() - start

    mean = {
        k: statistics.mean(r[k] for r in per_seed)
        for k in (
            "teacher_accuracy",
            "baseline_accuracy",
            "student_accuracy",
            "student_agreement",
            "baseline_agreement",
        )
    }
    std = {k: statistics.pstdev(r[k] for r in per_seed) for k in mean}
    gap = mean["teacher_accuracy"] - mean["baseline_accuracy"]
    closed = (
        (mean["student_accuracy"] - mean["baseline_accuracy"]) / gap if gap > 0 else float("nan")
    )
    ratio = per_seed[0]["teacher_params"] / per_seed[0]["student_params"]
    print_table(
        f"Mean over {len(seeds)} seeds",
        ["model", "params", "accuracy", "± std", "agreement w/ teacher"],
        [
            [
                "teacher",
                per_seed[0]["teacher_params"],
                mean["teacher_accuracy"],
                std["teacher_accuracy"],
                "–",
            ],
            [
                "baseline (scratch)",
                per_seed[0]["student_params"],
                mean["baseline_accuracy"],
                std["baseline_accuracy"],
                mean["baseline_agreement"],
            ],
            [
                "distilled",
                per_seed[0]["student_params"],
                mean["student_accuracy"],
                std["student_accuracy"],
                mean["student_agreement"],
            ],
        ],
    )
    print(f"\nparams ratio teacher/student: {ratio:.1f}x")
    print(f"gap closed by distillation: {100 * closed:.1f}% of baseline→teacher")
    print(
        f"default recipe end to end: {demo['cold cache']:.1f} s (cold cache), "
        f"{demo['warm cache']:.1f} s (warm)"
    )
    print(f"edgekd --help: {help_s:.2f} s")
    write_json(
        args.json,
        {
            "benchmark": "kd_digits",
            "quick": args.quick,
            "seeds": seeds,
            "per_seed": per_seed,
            "mean": mean,
            "std": std,
            "params_ratio": ratio,
            "gap_closed": closed,
            "demo_seconds": demo,
            "help_seconds": help_s,
        },
    )


if __name__ == "__main__":
    main()
