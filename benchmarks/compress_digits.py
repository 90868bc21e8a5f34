"""Compression benchmark on digits: unstructured and structured pruning sweeps, int8 vs fp32.

    python benchmarks/compress_digits.py [--quick] [--json PATH]

Teacher: cnn width 32 depth 3 trained 30 epochs. Student: cnn width 16 depth 2 (5.2k params;
override with STUDENT_WIDTH) distilled 40 epochs with KDLoss(T=4, alpha=0.1) from the
teacher's precomputed logits. Width 16, not the recipe's 8: the 1.4k-param width-8 student
has little redundancy left (in a --quick trial, 75% unstructured sparsity cost it 12 points).
Every pruning run fine-tunes a copy of that student under the same KD loss (teacher logits
cached, never recomputed). The int8 comparison also runs on a teacher-sized model, where
weights dominate the file. Accuracies are on the test split; ONNX numbers come from
onnxruntime on this host.
Goals: unstructured 75% within 1 point of dense; structured 50% at <= 0.5x dense MACs;
static int8 file <= 0.3x fp32 and accuracy within 1 point. Every printed number goes to JSON.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import parse_args, print_table, write_json  # noqa: E402

import edgekd  # noqa: E402
from edgekd.data.loaders import DataSplits, load_data  # noqa: E402
from edgekd.distill.config import DistillConfig  # noqa: E402
from edgekd.export.onnx_export import export_onnx  # noqa: E402
from edgekd.models.config import StudentConfig  # noqa: E402
from edgekd.models.zoo import build_model  # noqa: E402
from edgekd.prune.api import prune  # noqa: E402
from edgekd.prune.config import PruneConfig  # noqa: E402
from edgekd.quantize.api import quantize  # noqa: E402
from edgekd.quantize.config import QuantizeConfig  # noqa: E402
from edgekd.quantize.qat import qat  # noqa: E402
from edgekd.quantize.speedup import (  # noqa: E402
    host_latency_ms,
    measured_speedup,
    speedup_report,
)
from edgekd.runtime.onnx import OnnxRunner  # noqa: E402
from edgekd.train.config import TrainConfig  # noqa: E402
from edgekd.train.loop import accuracy, fit, predict  # noqa: E402

STUDENT_WIDTH = int(os.environ.get("STUDENT_WIDTH", "16"))


def onnx_test_accuracy(path: Path, data: DataSplits) -> float:
    assert data.test.y is not None
    return 100.0 * accuracy(OnnxRunner(path).predict(data.test.x), data.test.y)


def torch_test_accuracy(model: torch.nn.Module, data: DataSplits) -> float:
    assert data.test.y is not None
    return 100.0 * accuracy(predict(model, data.test.x), data.test.y)


def train_models(data: DataSplits, quick: bool) -> dict[str, Any]:
    torch.manual_seed(0)
    teacher = build_model("cnn", data.input_shape, data.num_classes, 32, 3)
    t0 = time.perf_counter()
    fit(teacher, data.train, data.val, TrainConfig(epochs=5 if quick else 30, lr=3e-3))
    teacher_logits = predict(teacher, data.train.x)  # computed once, reused by every run
    distill = DistillConfig(epochs=12 if quick else 40, temperature=4.0, alpha=0.1)
    config = StudentConfig(width=STUDENT_WIDTH, depth=2)
    student = edgekd.distill(data, teacher_logits, config, distill).model
    return {
        "teacher": teacher,
        "student": student,
        "teacher_logits": teacher_logits,
        "distill": distill,
        "train_s": time.perf_counter() - t0,
    }


def unstructured_sweep(m: dict[str, Any], data: DataSplits, quick: bool) -> list[dict]:
    rows = []
    fine = TrainConfig(epochs=4 if quick else 12, lr=1e-3)
    for s in (0.0, 0.5, 0.75, 0.9):
        cfg = PruneConfig(
            method="unstructured", sparsity=s, steps=2 if quick else 4, fine_tune=fine
        )
        model = m["student"]
        if s > 0:
            model, rep = prune(model, cfg, data, m["teacher_logits"], m["distill"])
            gz, sp = rep["after"]["gzip_bytes"], rep["after"]["sparsity"]
        else:
            rep = prune(model, PruneConfig(method="none"), data, m["teacher_logits"], m["distill"])[
                1
            ]
            gz, sp = rep["before"]["gzip_bytes"], rep["before"]["sparsity"]
        rows.append(
            {
                "target": s,
                "sparsity": sp,
                "gzip_bytes": gz,
                "test_acc": torch_test_accuracy(model, data),
            }
        )
    return rows


def structured_sweep(
    m: dict[str, Any], data: DataSplits, quick: bool, tmp: Path, repeats: int
) -> list[dict]:
    rows = []
    fine = TrainConfig(epochs=6 if quick else 24, lr=3e-3)  # removed channels need more
    x1 = data.test.x[:1]
    for s in (0.0, 0.25, 0.5):
        cfg = PruneConfig(
            method="structured" if s > 0 else "none",
            sparsity=s,
            scope="layer",
            steps=2 if quick else 4,
            fine_tune=fine,
        )
        model, rep = prune(m["student"], cfg, data, m["teacher_logits"], m["distill"])
        path = export_onnx(model, data.val.x[:2], tmp / f"structured{int(s * 100)}.onnx").path
        rows.append(
            {
                "ratio": s,
                "channels": rep["after"]["channels"],
                "params": rep["after"]["params"],
                "macs": rep["after"]["macs"],
                "latency_ms_1t": host_latency_ms(path, x1, 1, repeats),
                "latency_ms_b64_1t": host_latency_ms(path, data.test.x[:64], 1, repeats),
                "test_acc": onnx_test_accuracy(path, data),
            }
        )
    return rows


def int8_comparison(
    name: str, model: torch.nn.Module, data: DataSplits, tmp: Path, repeats: int
) -> dict[str, Any]:
    fp32 = export_onnx(model, data.val.x[:2], tmp / f"{name}.fp32.onnx").path
    int8 = tmp / f"{name}.int8.onnx"
    rep = quantize(fp32, int8, QuantizeConfig(method="static", allow_degraded=True), data)
    fp16 = tmp / f"{name}.fp16.onnx"
    quantize(fp32, fp16, QuantizeConfig(method="fp16", allow_degraded=True), data)
    speed = speedup_report(fp32, int8, data.test.x[:1], repeats)
    return {
        "fp32_bytes": fp32.stat().st_size,
        "int8_bytes": int8.stat().st_size,
        "fp16_bytes": fp16.stat().st_size,
        "size_ratio": int8.stat().st_size / fp32.stat().st_size,
        "fp32_test_acc": onnx_test_accuracy(fp32, data),
        "int8_test_acc": onnx_test_accuracy(int8, data),
        "fp16_test_acc": onnx_test_accuracy(fp16, data),
        "chosen": rep["chosen"],
        "attempts": rep["attempts"],
        "int8_nodes": speed["int8_nodes"],
        "float_nodes": speed["float_nodes"],
        "runtime_ops": speed["runtime_ops"],
        "expected_speedup": speed["expected_speedup"],
        "measured": speed["measured"],
        "measured_b64": measured_speedup(fp32, int8, data.test.x[:64], repeats),
    }


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    t0 = time.perf_counter()
    data = load_data()
    repeats = 30 if args.quick else 300
    m = train_models(data, args.quick)
    results: dict[str, Any] = {
        "quick": args.quick,
        "host": {"machine": platform.machine(), "cpus": os.cpu_count()},
        "torch_threads": torch.get_num_threads(),
        "teacher_test_acc": torch_test_accuracy(m["teacher"], data),
        "student_test_acc": torch_test_accuracy(m["student"], data),
    }
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        results["unstructured"] = unstructured_sweep(m, data, args.quick)
        results["structured"] = structured_sweep(m, data, args.quick, tmp, repeats)
        results["int8_student"] = int8_comparison("student", m["student"], data, tmp, repeats)
        results["int8_teacher_size"] = int8_comparison("teacher", m["teacher"], data, tmp, repeats)
        qcfg = QuantizeConfig(
            method="qat",
            qat=TrainConfig(epochs=2 if args.quick else 5, lr=5e-4),
            allow_degraded=True,
        )
        qpath = tmp / "student.qat.onnx"
        qrep = qat(m["student"], qcfg, data, m["teacher_logits"], m["distill"], qpath)
        results["qat_student"] = {
            "test_acc": onnx_test_accuracy(qpath, data),
            "bytes": qpath.stat().st_size,
            "parity": qrep["parity"],
            "runtime_ops": qrep["runtime_ops"],
        }
    results["total_s"] = time.perf_counter() - t0
    report(results)
    write_json(args.json, results)


def report(r: dict[str, Any]) -> None:
    print(f"teacher test acc {r['teacher_test_acc']:.2f}%, student {r['student_test_acc']:.2f}%")
    dense = r["unstructured"][0]
    print_table(
        "Unstructured magnitude pruning (gradual, KD fine-tune)",
        ["target", "sparsity", "gzip bytes", "gzip x", "test acc %", "vs dense"],
        [
            [
                u["target"],
                u["sparsity"],
                u["gzip_bytes"],
                u["gzip_bytes"] / dense["gzip_bytes"],
                u["test_acc"],
                u["test_acc"] - dense["test_acc"],
            ]
            for u in r["unstructured"]
        ],
    )
    base = r["structured"][0]
    print_table(
        "Structured channel pruning (DepGraph, per-layer ratio, KD fine-tune), onnxruntime",
        ["ratio", "params", "MACs", "MACs x", "ms b1 1t", "ms b64 1t", "test acc %"],
        [
            [
                s["ratio"],
                s["params"],
                s["macs"],
                s["macs"] / base["macs"],
                s["latency_ms_1t"],
                s["latency_ms_b64_1t"],
                s["test_acc"],
            ]
            for s in r["structured"]
        ],
    )
    rows = []
    for name in ("int8_student", "int8_teacher_size"):
        q = r[name]
        for batch, label, key in (
            ("measured", "b1 1 thread", "1_thread"),
            ("measured", "b1 all threads", "all_threads"),
            ("measured_b64", "b64 1 thread", "1_thread"),
            ("measured_b64", "b64 all threads", "all_threads"),
        ):
            meas = q[batch][key]
            rows.append(
                [
                    name.replace("int8_", ""),
                    label,
                    q["fp32_bytes"],
                    q["int8_bytes"],
                    q["size_ratio"],
                    q["fp32_test_acc"],
                    q["int8_test_acc"],
                    meas["float_ms"],
                    meas["quant_ms"],
                    meas["speedup"],
                ]
            )
    print_table(
        "Static int8 (QDQ) vs fp32 ONNX, onnxruntime on this host",
        [
            "model",
            "batch/threads",
            "fp32 B",
            "int8 B",
            "size x",
            "fp32 acc",
            "int8 acc",
            "fp32 ms",
            "int8 ms",
            "speedup",
        ],
        rows,
    )
    for name in ("int8_student", "int8_teacher_size"):
        q = r[name]
        print(
            f"{name}: {q['int8_nodes']} int8 / {q['float_nodes']} float compute nodes "
            f"({q['runtime_ops']['int8']} integer kernels after onnxruntime fusion); expected "
            f"speedup {q['expected_speedup']['k=2']:.2f}-{q['expected_speedup']['k=4']:.2f}x; "
            f"fp16 {q['fp16_bytes']} B, acc {q['fp16_test_acc']:.2f}%; guard chose {q['chosen']}"
        )
    qa = r["qat_student"]
    print(
        f"QAT student: test acc {qa['test_acc']:.2f}%, {qa['bytes']} B, parity "
        f"{qa['parity']['status']} (top-1 agreement {qa['parity']['top1_agreement']:.3f})"
    )
    print(f"total {r['total_s']:.1f} s")


if __name__ == "__main__":
    main()
