"""Every distillation method on digits, and a scikit-learn teacher on breast_cancer.

python benchmarks/kd_methods.py [--quick] [--json PATH] [--seeds N] [--epochs N]

Digits: the default teacher (cnn width 32 depth 3, 30 epochs, lr 3e-3) and student (cnn width 8
depth 2). Every student, including the from-scratch baseline, gets the same epoch budget
(``--epochs``, default 150: "patient" training, Beyer et al. 2022); born-again and the
teacher-assistant chain spend that budget per generation / hop. Each seed changes the data
split, the teacher and every training seed. Reported: test accuracy and top-1 agreement with
the teacher, mean ± std over seeds.

Tabular: a gradient-boosting teacher (scikit-learn, loaded from a skops file like any recipe
teacher) vs the distilled MLP vs the scratch MLP, with size and single-sample latency.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table, write_json  # noqa: E402

DIGIT_METHODS = [
    "scratch",
    "kd",
    "fitnets",
    "at",
    "rkd",
    "sp",
    "multi_teacher (fixed)",
    "multi_teacher (confidence)",
    "born_again",
    "assistant",
    "data_free",
]


def parse() -> Any:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds, 15 epochs (~a few minutes)")
    ap.add_argument("--json", type=Path, help="write every number to this JSON file")
    ap.add_argument("--seeds", type=int, help="number of seeds (default 5, quick 2)")
    ap.add_argument("--epochs", type=int, help="student epochs (default 150, quick 15)")
    ap.add_argument("--only", nargs="*", help="run only these digits methods")
    return ap.parse_args()


def digits_seed(seed: int, epochs: int, quick: bool, cache_dir: Path, only: list[str]) -> dict:
    """Every method through ``edgekd.distill(..., method=...)``, as a recipe would run it."""
    import torch

    from edgekd import distill
    from edgekd.cache import Cache
    from edgekd.data.config import DataConfig
    from edgekd.data.loaders import load_data
    from edgekd.distill.api import train_baseline
    from edgekd.distill.config import DistillConfig
    from edgekd.models.config import StudentConfig, TeacherConfig
    from edgekd.teacher.outputs import teacher_outputs
    from edgekd.teacher.train import train_or_load_teacher
    from edgekd.train.loop import predict

    torch.set_num_threads(1)
    cache = Cache(cache_dir)
    data = load_data(DataConfig(seed=seed))
    tcfg = TeacherConfig(fit={"epochs": 30, "lr": 3e-3, "seed": seed})
    teacher, _ = train_or_load_teacher(tcfg, data, cache)
    t_logits = teacher_outputs(teacher, data, cache)[0]
    t2cfg = TeacherConfig(
        arch="mlp", width=128, depth=2, fit={"epochs": 30, "lr": 3e-3, "seed": seed}
    )
    data_free = {"samples": 256, "steps": 50} if quick else {}
    student = StudentConfig()

    def score(model) -> dict[str, float]:
        logits = predict(model, data.test.x)
        return {
            "accuracy": float(np.mean(logits.argmax(1) == data.test.y)),
            "agreement": float(np.mean(logits.argmax(1) == t_logits["test"].argmax(1))),
        }

    def method(name: str, **cfg: Any):
        config = DistillConfig(epochs=epochs, seed=seed, method=name, data_free=data_free, **cfg)
        teachers = [train_or_load_teacher(t2cfg, data, cache)[0]] if name == "multi_teacher" else []
        result = distill(data, teacher, student, config, teachers=teachers, cache=cache)
        if name == "data_free":
            out["data_free_synthesis"] = result.info["synthetic"]
        return result.model

    out: dict[str, Any] = {
        "teacher": {
            "accuracy": float(np.mean(t_logits["test"].argmax(1) == data.test.y)),
            "agreement": 1.0,
        }
    }
    scratch_cfg = DistillConfig(epochs=epochs, seed=seed)
    runners: dict[str, Callable[[], Any]] = {
        "scratch": lambda: train_baseline(data, student, scratch_cfg)[0],
        "kd": lambda: method("kd"),
        "fitnets": lambda: method("fitnets"),
        "at": lambda: method("at"),
        "rkd": lambda: method("rkd"),
        "sp": lambda: method("sp"),
        "multi_teacher (fixed)": lambda: method("multi_teacher"),
        "multi_teacher (confidence)": lambda: method(
            "multi_teacher", multi_teacher={"weighting": "confidence"}
        ),
        "born_again": lambda: method("born_again"),
        "assistant": lambda: method("assistant"),
        "data_free": lambda: method("data_free"),
    }
    for name in DIGIT_METHODS:
        if only and name not in only and name not in ("scratch", "kd"):
            continue
        start = time.perf_counter()
        out[name] = {**score(runners[name]()), "seconds": time.perf_counter() - start}
        print(f"  seed {seed} {name}: {out[name]}", flush=True)
    return out


def tabular_seed(seed: int, epochs: int, cache_dir: Path) -> dict:
    import skops.io as sio
    import torch
    from sklearn.ensemble import GradientBoostingClassifier

    from edgekd import distill
    from edgekd.cache import Cache
    from edgekd.data.config import DataConfig
    from edgekd.data.loaders import load_data
    from edgekd.distill.api import train_baseline
    from edgekd.distill.config import DistillConfig
    from edgekd.models.config import StudentConfig, TeacherConfig
    from edgekd.models.zoo import count_params
    from edgekd.teacher.load import load_teacher_file
    from edgekd.teacher.outputs import teacher_outputs
    from edgekd.train.loop import predict

    torch.set_num_threads(1)
    cache = Cache(cache_dir)
    data = load_data(DataConfig(source="breast_cancer", seed=seed))
    assert data.train.y is not None and data.test.y is not None
    gb = GradientBoostingClassifier(random_state=seed).fit(data.train.x, data.train.y)
    path = cache_dir / f"gb-{seed}.skops"
    sio.dump(gb, path)
    teacher = load_teacher_file(TeacherConfig(path=path, input="normalized", trust=True), data)
    t_logits = teacher_outputs(teacher, data, cache)[0]
    cfg = DistillConfig(epochs=epochs, seed=seed, temperature=2.0, alpha=0.5)
    mlp = StudentConfig(arch="mlp", width=16, depth=1)
    res: dict[str, Any] = {"teacher": float(np.mean(t_logits["test"].argmax(1) == data.test.y))}
    models = {
        "scratch": train_baseline(data, mlp, cfg)[0],
        "distilled": distill(data, teacher, mlp, cfg, cache=cache).model,
    }
    for name, m in models.items():
        res[name] = float(np.mean(predict(m, data.test.x).argmax(1) == data.test.y))
        res["mlp_params"] = count_params(m)
        res["mlp_bytes"] = 4 * count_params(m)
        x1 = torch.from_numpy(data.test.x[:1])
        res["mlp_latency_ms"] = _latency(lambda m=m, x1=x1: m(x1))
    x1n = data.test.x[:1]
    res["teacher_latency_ms"] = _latency(lambda: gb.predict_proba(x1n))
    res["teacher_bytes"] = path.stat().st_size
    res["teacher_nodes"] = int(sum(t.tree_.node_count for t in gb.estimators_.ravel()))
    return res


def _latency(fn: Callable[[], Any], reps: int = 200) -> float:
    import torch

    times = []
    with torch.no_grad():
        for _ in range(reps):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _ms(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.pstdev(values) if len(values) > 1 else 0.0


def main() -> None:
    args = parse()
    n_seeds = args.seeds or (2 if args.quick else 5)
    epochs = args.epochs or (15 if args.quick else 150)
    seeds = list(range(n_seeds))
    only = args.only or []
    per_seed: list[dict] = []
    tab: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:  # tables and JSON after every seed, so a long run reports as it goes
            per_seed.append(digits_seed(seed, epochs, args.quick, Path(tmp), only))
            tab.append(tabular_seed(seed, max(epochs, 60), Path(tmp)))
            report(args, seeds, epochs, per_seed, tab)


def report(args: Any, seeds: list[int], epochs: int, per_seed: list[dict], tab: list[dict]) -> None:
    n_seeds = len(per_seed)
    names = ["teacher"] + [m for m in DIGIT_METHODS if m in per_seed[0]]
    summary: dict[str, dict[str, float]] = {}
    rows = []
    scratch = _ms([r["scratch"]["accuracy"] for r in per_seed])[0]
    for name in names:
        acc, acc_sd = _ms([r[name]["accuracy"] for r in per_seed])
        agr, agr_sd = _ms([r[name]["agreement"] for r in per_seed])
        summary[name] = {
            "accuracy": acc,
            "accuracy_std": acc_sd,
            "agreement": agr,
            "agreement_std": agr_sd,
        }
        delta = "–" if name == "teacher" else f"{100 * (acc - scratch):+.1f}"
        rows.append([name, f"{acc:.4f} ± {acc_sd:.4f}", f"{agr:.4f} ± {agr_sd:.4f}", delta])
    print_table(
        f"Digits, test accuracy over {n_seeds} seeds, {epochs} student epochs",
        ["method", "accuracy", "agreement w/ teacher", "vs scratch (pts)"],
        rows,
    )
    if "data_free" in summary:
        rec = summary["data_free"]["accuracy"] / summary["kd"]["accuracy"]
        summary["data_free"]["recovered_of_kd"] = rec
        print(f"\ndata-free recovers {100 * rec:.1f}% of data-based KD accuracy")
    tsum = {k: _ms([r[k] for r in tab]) for k in tab[0]}
    print_table(
        f"breast_cancer, gradient-boosting teacher -> MLP (width 16), {n_seeds} seeds",
        ["model", "accuracy", "size (bytes)", "latency (ms, 1 sample)"],
        [
            [
                "gradient boosting (teacher)",
                f"{tsum['teacher'][0]:.4f} ± {tsum['teacher'][1]:.4f}",
                int(tsum["teacher_bytes"][0]),
                f"{tsum['teacher_latency_ms'][0]:.3f}",
            ],
            [
                "MLP distilled",
                f"{tsum['distilled'][0]:.4f} ± {tsum['distilled'][1]:.4f}",
                int(tsum["mlp_bytes"][0]),
                f"{tsum['mlp_latency_ms'][0]:.3f}",
            ],
            [
                "MLP scratch",
                f"{tsum['scratch'][0]:.4f} ± {tsum['scratch'][1]:.4f}",
                int(tsum["mlp_bytes"][0]),
                f"{tsum['mlp_latency_ms'][0]:.3f}",
            ],
        ],
    )
    write_json(
        args.json,
        {
            "benchmark": "kd_methods",
            "quick": args.quick,
            "seeds": seeds[:n_seeds],
            "epochs": epochs,
            "digits": {"summary": summary, "per_seed": per_seed},
            "tabular": {
                "summary": {k: {"mean": v[0], "std": v[1]} for k, v in tsum.items()},
                "per_seed": tab,
            },
        },
    )


if __name__ == "__main__":
    main()
