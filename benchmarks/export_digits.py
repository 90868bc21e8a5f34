"""Export a distilled digits student to .tflite in every precision and measure each file.

    python benchmarks/export_digits.py [--quick] [--json PATH] [--width 8] [--depth 2]

Trains a cnn teacher (width 32, depth 3), distills the student from it (Hinton KD, T=4,
alpha=0.1), exports fp32, fp16, dynamic_int8, int8 and int8 with int8 I/O, and reports per
file: bytes, constant (weight) bytes, size ratio vs fp32, LiteRT accuracy on the test split,
top-1 agreement with torch on the whole test split, LiteRT host latency p50 (batch 1, one
thread, after warm-up) and export seconds. Goals: float files agree with torch on 100% of the
test split; full int8 within 1.5 points of float accuracy and <= 0.3x the float file;
export < 10 s per format.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgekd.data.loaders import load_data  # noqa: E402
from edgekd.distill.losses import KDLoss  # noqa: E402
from edgekd.export.tflite_export import export_tflite  # noqa: E402
from edgekd.models.zoo import build_model, count_params  # noqa: E402
from edgekd.runtime.litert import TfliteRunner, read_model  # noqa: E402
from edgekd.train.config import TrainConfig  # noqa: E402
from edgekd.train.loop import accuracy, fit, predict  # noqa: E402

KINDS = [("fp32", False), ("fp16", False), ("dynamic_int8", False), ("int8", False), ("int8", True)]


def latency_p50_ms(runner: TfliteRunner, x: np.ndarray, runs: int) -> float:
    """Median wall time of ``invoke`` at batch 1 after 10 warm-up runs."""
    interp, inp = runner.interpreter, runner.input
    sample = x[:1]
    if inp["dtype"] != np.float32:
        scale, zero = inp["quantization"]
        sample = np.clip(np.round(sample / scale) + zero, -128, 127).astype(inp["dtype"])
    interp.set_tensor(inp["index"], sample)
    for _ in range(10):
        interp.invoke()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        interp.invoke()
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times))


def constant_bytes(path: Path) -> int:
    return sum(len(b.data) for b in read_model(path).buffers if b.data is not None)


def train(quick: bool, width: int, depth: int) -> tuple[torch.nn.Module, dict, object]:
    data = load_data()
    teacher = build_model("cnn", data.input_shape, data.num_classes, 32, 3)
    fit(teacher, data.train, data.val, TrainConfig(epochs=6 if quick else 30, lr=3e-3))
    teacher_logits = predict(teacher, data.train.x)
    student = build_model("cnn", data.input_shape, data.num_classes, width, depth)
    fit(
        student,
        data.train,
        data.val,
        TrainConfig(epochs=10 if quick else 40),
        loss=KDLoss(temperature=4.0, alpha=0.1),
        teacher_logits=teacher_logits,
    )
    info = {
        "teacher": {"arch": "cnn", "width": 32, "depth": 3, "params": count_params(teacher)},
        "teacher_test_accuracy": accuracy(predict(teacher, data.test.x), data.test.y),
        "student": {"arch": "cnn", "width": width, "depth": depth, "params": count_params(student)},
        "student_training": "distilled from the teacher (KD, T=4, alpha=0.1)",
    }
    return student.eval(), info, data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer epochs and latency runs (~1 min)")
    ap.add_argument("--json", type=Path, help="write every number to this file")
    ap.add_argument("--width", type=int, default=8, help="student width (recipe default 8)")
    ap.add_argument("--depth", type=int, default=2, help="student depth (recipe default 2)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    student, info, data = train(args.quick, args.width, args.depth)
    reference = predict(student, data.test.x)
    torch_acc = accuracy(reference, data.test.y)
    runs = 50 if args.quick else 300
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for precision, int8_io in KINDS:
            path = Path(tmp) / f"student.{precision}{'.int8io' if int8_io else ''}.tflite"
            meta = export_tflite(
                student, data.test.x[:1], path, precision, calib=data.calib.x, int8_io=int8_io
            ).meta
            runner = TfliteRunner(path, threads=1)
            out = runner.predict(data.test.x)
            rows.append(
                {
                    "precision": precision + (" +int8 I/O" if int8_io else ""),
                    "file_bytes": meta["file_bytes"],
                    "weight_bytes": constant_bytes(path),
                    "test_accuracy": accuracy(out, data.test.y),
                    "top1_agreement": float(np.mean(out.argmax(1) == reference.argmax(1))),
                    "max_abs_diff": float(np.abs(out - reference).max()),
                    "latency_p50_ms": latency_p50_ms(runner, data.test.x, runs),
                    "export_seconds": meta["export_seconds"],
                    "input": meta["input"],
                    "output": meta["output"],
                    "quantizer": meta["quantizer"],
                }
            )
    base = rows[0]
    for r in rows:
        r["latency_p50_us"] = r["latency_p50_ms"] * 1e3
        r["size_ratio"] = r["file_bytes"] / base["file_bytes"]
    int8 = rows[3]
    goals = {
        "float_agreement_100pct": all(r["top1_agreement"] == 1.0 for r in rows[:2]),
        "int8_within_1.5_points": base["test_accuracy"] - int8["test_accuracy"] <= 0.015,
        "int8_size_le_0.3x": int8["size_ratio"] <= 0.3,
        "export_under_10s": all(r["export_seconds"] < 10 for r in rows),
    }
    print_table(rows, torch_acc, info, goals, len(data.test.y))
    if args.json:
        result = {
            "benchmark": "export_digits",
            "quick": args.quick,
            "test_samples": len(data.test.y),
            "latency_runs": runs,
            "torch_test_accuracy": torch_acc,
            **info,
            "rows": rows,
            "goals": goals,
            "versions": versions(),
        }
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")


def print_table(rows: list[dict], torch_acc: float, info: dict, goals: dict, n: int) -> None:
    s = info["student"]
    print(
        f"digits student cnn w{s['width']} d{s['depth']} ({s['params']} params), "
        f"{info['student_training']}; torch test accuracy {torch_acc:.4f} on {n} samples"
    )
    head = (
        f"{'precision':<20}{'bytes':>8}{'weights':>9}{'ratio':>7}{'acc':>8}"
        f"{'agree':>8}{'p50 us':>8}{'export s':>10}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['precision']:<20}{r['file_bytes']:>8}{r['weight_bytes']:>9}{r['size_ratio']:>7.2f}"
            f"{r['test_accuracy']:>8.4f}{r['top1_agreement']:>8.4f}{r['latency_p50_us']:>8.1f}"
            f"{r['export_seconds']:>10.2f}"
        )
    print("goals: " + ", ".join(f"{k}={'met' if v else 'NOT met'}" for k, v in goals.items()))


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {d: version(d) for d in ("torch", "litert-torch", "ai-edge-litert", "ai-edge-quantizer")}


if __name__ == "__main__":
    main()
