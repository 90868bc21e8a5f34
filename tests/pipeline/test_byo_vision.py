"""A torchvision student on an image folder through every stage of ``edgekd compress``:
distill, structured pruning, ONNX (dynamic batch) and int8 ONNX, TFLite fp32 and int8 behind
parity gates, evaluation by each file's runtime, profiling on a phone and a microcontroller,
and the preprocessing saved with the artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import run_cli


def blob_folder(root: Path, per_class: int = 14, size: int = 16, seed: int = 0) -> Path:
    """Class k = a bright square in colour channel k on a noisy background, as PNG files."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for k, name in enumerate(["red", "green", "blue"]):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            img = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
            r, c = rng.integers(0, size // 2, 2)
            img[r : r + size // 2, c : c + size // 2, k] = 255
            Image.fromarray(img, "RGB").save(root / name / f"{i}.png")
    return root


@pytest.mark.slow
def test_mobilenet_v3_small_on_an_image_folder_end_to_end(tmp_path):
    folder = blob_folder(tmp_path / "images")
    recipe = {
        "data": {
            "source": "imagefolder",
            "path": str(folder),
            "calib_samples": 16,
            "image": {"size": 16, "augment": False},
        },
        "teacher": {"arch": "cnn", "width": 8, "depth": 2, "fit": {"epochs": 15, "batch_size": 8}},
        "student": {"model": "torchvision:mobilenet_v3_small"},
        "distill": {"epochs": 12, "batch_size": 8, "lr": 0.005, "baseline": False},
        "prune": {"method": "structured", "sparsity": 0.25, "steps": 1,
                  "fine_tune": {"epochs": 1}},
        "quantize": {"method": "static", "calib_samples": 16, "allow_degraded": True},
        "export": {"formats": ["onnx", "tflite"], "tflite": {"precision": ["fp32", "int8"]}},
        "targets": {"names": ["pixel-4", "nano-33-ble"], "measure": False},
        "output": {"dir": str(tmp_path / "runs"), "name": "folder"},
    }  # fmt: skip
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    code, out = run_cli(["compress", str(path), "--quiet"])
    assert code == 0, out[-3000:]
    run = next((tmp_path / "runs").iterdir())
    report = json.loads((run / "report.json").read_text())
    arts = {a["id"]: a for a in report["artifacts"]}
    manifest = json.loads((run / "manifest.json").read_text())
    spec = next(a for a in manifest["artifacts"] if a["id"] == "student")["extra"]["model"]
    assert spec["source"] == "torchvision" and spec["name"] == "mobilenet_v3_small"
    assert spec["input_shape"] == [3, 16, 16] and spec["num_classes"] == 3
    student = arts["student"]
    for art_id in ("student-onnx", "student-tflite-fp32", "student-tflite-int8"):
        assert arts[art_id]["parity"]["status"] == "pass", art_id
    assert arts["student-pruned"]["params"] < student["params"]
    # each file evaluated by its own runtime; float exports agree with their parent
    assert arts["student-tflite-int8"]["runtime"] == "litert"
    assert arts["student-onnx"]["metrics"]["accuracy"] == pytest.approx(
        arts["student-pruned"]["metrics"]["accuracy"], abs=1e-9
    )
    # profiled with the real input signature: one RGB 16x16 image
    prof = {p["artifact"]: p for p in report["profiles"]}
    shapes = prof["student-tflite-int8"]["model"]["input_shapes"]
    assert list(shapes.values()) == [[1, 3, 16, 16]]
    assert {t["name"] for t in prof["student-tflite-int8"]["targets"]} == {"pixel-4", "nano-33-ble"}
    # the preprocessing every runtime must apply travels with the artifacts
    pre = json.loads((run / "preprocess.json").read_text())
    assert pre["kind"] == "image" and pre["image_size"] == [16, 16] and pre["channels"] == 3
    assert len(pre["mean"]) == len(pre["std"]) == 3
