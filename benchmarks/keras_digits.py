"""The Keras path beside the PyTorch one on digits, and TFMOT's pruning beside edgekd's own.

    python benchmarks/keras_digits.py [--quick] [--json PATH]

Part 1: two ``edgekd.compress`` runs (the Python API) with the same cached PyTorch teacher
(the default zoo CNN) and the same student size (cnn 16x2): a PyTorch student (distilled,
edgekd's unstructured magnitude pruning to 75%, litert-torch fp32 and PT2E full-int8 TFLite)
and a Keras student (distilled with the Keras ``train_step``, TFMOT ``prune_low_magnitude`` to
75%, pruning-preserving QAT, TFLiteConverter fp32 and full int8). Per student: test accuracy
after each step (every file run by its own runtime), params, int8 .tflite bytes, LiteRT host
p50 latency (batch 1) and the nano-33-ble prediction.

Part 2: sparsity vs accuracy: each run's distilled student pruned to 50/75/90% (``--quick``:
75%) with the same fine-tuning budget, by TFMOT (Keras) and by edgekd (torch); test accuracy,
measured sparsity and gzip'd bytes (of the .keras file for TFMOT, of the torch state dict
for edgekd: different containers, so compare each with its own dense row).
"""

from __future__ import annotations

import gzip
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import parse_args, print_table, write_json  # noqa: E402

import edgekd  # noqa: E402

MCU = "nano-33-ble"


def recipe(kind: str, quick: bool) -> Any:
    """The run's recipe: the same teacher, student size and budgets for both frameworks."""
    distill_epochs, fine_tune = (20, 5) if quick else (60, 20)
    student: dict[str, Any] = {"width": 16, "depth": 2}
    if kind == "keras":
        student["model"] = "keras:cnn"
    return edgekd.Recipe.model_validate(
        {
            "output": {"name": f"bench-{kind}"},
            "student": student,
            "distill": {"epochs": distill_epochs, "lr": 0.01, "baseline": False},
            "prune": {
                "method": "unstructured",
                "sparsity": 0.75,
                "fine_tune": {"epochs": fine_tune, "lr": 0.003},
            },
            "quantize": {"method": "qat", "qat": {"epochs": 2 if quick else 5, "lr": 5e-4}}
            if kind == "keras"
            else {"method": "none"},
            "export": {"formats": ["tflite"], "teacher": False,
                       "tflite": {"precision": ["fp32", "int8"]}},
            "targets": {"measure": True},
        }
    )  # fmt: skip


def run_row(kind: str, result: Any) -> dict[str, Any]:
    """The numbers of one compress run."""
    arts = {a["id"]: a for a in result.report["artifacts"]}
    profiles = {p["artifact"]: p for p in result.report["profiles"]}
    int8 = arts["student-tflite-int8"]

    def acc(i: str) -> float | None:
        return (arts.get(i) or {}).get("metrics", {}).get("accuracy")

    mcu = next(t for t in profiles[int8["id"]]["targets"] if t["name"] == MCU)
    return {
        "framework": kind,
        "teacher_accuracy": acc("teacher"),
        "distilled_accuracy": acc("student"),
        "pruned_accuracy": acc("student-pruned"),
        "qat_accuracy": acc("student-qat"),
        "int8_tflite_accuracy": acc(int8["id"]),
        "params": arts["student"]["params"],
        "int8_tflite_bytes": int8["file_bytes"],
        "fp32_tflite_bytes": arts["student-tflite-fp32"]["file_bytes"],
        "int8_litert_p50_ms": profiles[int8["id"]]["host"]["latency_ms"]["p50"],
        "int8_mcu_predicted_ms": mcu["predicted"]["latency_ms"],
        "int8_parity": int8["parity"]["status"],
        "seconds": sum(v or 0 for v in result.report["stages"].values()),
        "run_dir": str(result.run_dir),
    }


def keras_sweep(run_dir: Path, rec: Any, sparsities: list[float]) -> list[dict[str, Any]]:
    """TFMOT pruning of the Keras run's distilled student at each sparsity."""
    from edgekd.distill.keras_kd import KerasData, accuracy
    from edgekd.models.keras_files import load_student, save_keras
    from edgekd.prune.tfmot import prune_keras, sparsity
    from edgekd.teacher.output_store import open_folder

    data = edgekd.load_data(rec.data)
    logits = dict(open_folder(run_dir / "teacher" / "outputs"))
    kdata = KerasData(data.train.x, data.train.y, np.asarray(logits["train"]), data.val.x,
                      data.val.y)  # fmt: skip
    rows = []
    for s in [0.0, *sparsities]:
        model = load_student(run_dir / "student.keras")
        if s > 0:
            cfg = rec.model_copy(update={"prune": rec.prune.model_copy(update={"sparsity": s})})
            model, _ = prune_keras(model, kdata, cfg)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "m.keras"
            save_keras(model, path)
            zipped = len(gzip.compress(path.read_bytes(), 9))
        rows.append({"framework": "keras (TFMOT)", "target_sparsity": s,
                     "sparsity": sparsity(model), "test_accuracy": accuracy(model, data.test.x,
                     data.test.y), "gzip_bytes": zipped})  # fmt: skip
    return rows


def torch_sweep(run_dir: Path, rec: Any, sparsities: list[float]) -> list[dict[str, Any]]:
    """edgekd's unstructured magnitude pruning of the torch run's distilled student."""
    from edgekd.models.load import load_model
    from edgekd.models.spec import ModelSpec
    from edgekd.prune.api import gzip_size
    from edgekd.teacher.output_store import open_folder
    from edgekd.train.loop import accuracy, predict

    manifest = json.loads((run_dir / "manifest.json").read_text())
    student = next(a for a in manifest["artifacts"] if a["id"] == "student")
    spec = ModelSpec.from_dict(student["extra"]["model"])
    data = edgekd.load_data(rec.data)
    logits = np.asarray(dict(open_folder(run_dir / "teacher" / "outputs"))["train"])
    rows = []
    for s in [0.0, *sparsities]:
        model = load_model(run_dir / "student.safetensors", spec)
        report: dict[str, Any] = {"after": {"sparsity": 0.0}}
        if s > 0:
            cfg = rec.prune.model_copy(update={"sparsity": s})
            model, report = edgekd.prune(model, cfg, data, logits, rec.distill)
        rows.append({"framework": "torch (edgekd)", "target_sparsity": s,
                     "sparsity": round(float(report["after"]["sparsity"]), 4),
                     "test_accuracy": accuracy(predict(model, data.test.x), data.test.y),
                     "gzip_bytes": gzip_size(model)})  # fmt: skip
    return rows


def main() -> None:
    from edgekd.noise import quiet_backend_env

    quiet_backend_env()  # converter C++ logs below ERROR, as the CLI has them
    args = parse_args(__doc__.splitlines()[0])
    sparsities = [0.75] if args.quick else [0.5, 0.75, 0.9]
    out = Path(tempfile.mkdtemp(prefix="keras-bench-"))
    runs, recipes = {}, {}
    for kind in ("torch", "keras"):
        recipes[kind] = recipe(kind, args.quick)
        runs[kind] = run_row(kind, edgekd.compress(recipes[kind], out_dir=out))
    keys = ["framework", "distilled_accuracy", "pruned_accuracy", "qat_accuracy",
            "int8_tflite_accuracy", "params", "int8_tflite_bytes", "int8_litert_p50_ms",
            "int8_mcu_predicted_ms", "int8_parity"]  # fmt: skip
    print_table(
        "Keras vs PyTorch student on digits (test split; 75% unstructured sparsity)",
        keys,
        [[runs[k][c] for c in keys] for k in runs],
    )
    sweep = keras_sweep(Path(runs["keras"]["run_dir"]), recipes["keras"], sparsities)
    sweep += torch_sweep(Path(runs["torch"]["run_dir"]), recipes["torch"], sparsities)
    cols = ["framework", "target_sparsity", "sparsity", "test_accuracy", "gzip_bytes"]
    print_table("Sparsity vs accuracy (fp32, same fine-tuning budget)", cols,
                [[r[c] for c in cols] for r in sweep])  # fmt: skip
    write_json(args.json, {"quick": args.quick, "runs": runs, "sparsity": sweep})


if __name__ == "__main__":
    main()
