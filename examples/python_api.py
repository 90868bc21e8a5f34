"""The Python API: load a recipe, change it, run it, read the numbers.

python examples/python_api.py [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from edgekd import Recipe, compress, distill, export_onnx, load_data


def main(out: Path) -> dict[str, float]:
    # 1. The whole pipeline from a recipe object (the same schema as the YAML files).
    recipe = Recipe.model_validate(
        {
            "teacher": {"width": 16, "fit": {"epochs": 8}},
            "distill": {"epochs": 10, "temperature": 4.0},
            "targets": {"names": ["pixel-4", "nano-33-ble"], "measure": False},
            "output": {"name": "api-example"},
        }
    )
    result = compress(recipe, out_dir=out)
    accuracy = {a["id"]: a["metrics"]["accuracy"] for a in result.report["artifacts"]}
    print("run directory:", result.run_dir)
    print("test accuracy:", {k: round(v, 4) for k, v in accuracy.items()})

    # 2. The stages one by one: distill a student from teacher logits, export it to ONNX.
    data = load_data(recipe.data)
    student = distill(data, _teacher_logits(data), recipe.student, recipe.distill).model
    onnx_path = export_onnx(student, data.val.x[:1], out / "student.onnx")
    print("exported:", onnx_path, onnx_path.stat().st_size, "bytes")
    return accuracy


def _teacher_logits(data) -> np.ndarray:
    """Any teacher works: here, a scikit-learn model's log-probabilities on the train split."""
    from sklearn.linear_model import LogisticRegression

    flat = data.train.x.reshape(len(data.train), -1)
    probs = LogisticRegression(max_iter=500).fit(flat, data.train.y).predict_proba(flat)
    return np.log(np.clip(probs, 1e-7, 1.0)).astype(np.float32)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    main(args.out or Path(tempfile.mkdtemp(prefix="edgekd-example-")))
