"""The ``profile`` pass: every exported file (ONNX, TFLite) that passed its gates, profiled
on the recipe's targets (``targets:``: names, runtime, threads, budgets, host measurement),
with the accuracy the ``evaluate`` pass measured checked against ``min_accuracy``.

Each artifact comes back with its profile in ``extra["profile"]`` (shaped like
``edgekd profile --json``); the reports list them as ``profiles[]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from edgekd.artifact import Artifact
from edgekd.passes import Services

if TYPE_CHECKING:
    from edgekd.recipe.schema import Recipe

PROFILED = ("onnx", "tflite")


def run(inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services) -> list[Artifact]:
    from edgekd.profile.api import profile_with

    arts = [a for a in inputs if a.format in PROFILED and a.status == "ok"]
    task = env.reporter.task("profile artifacts", len(arts))
    try:
        for i, art in enumerate(arts):
            result = profile_with(
                art.absolute(run_dir),
                cfg.targets,
                accuracy=art.metrics.get("accuracy"),
                input_shapes=input_shapes(run_dir) if art.format == "onnx" else None,
            )
            result["model"]["path"] = art.path
            art.macs = result["model"].get("macs", art.macs)
            if art.params is None:
                art.params = result["model"].get("params")
            art.extra["profile"] = result
            task.update(i + 1, art.id)
    finally:
        task.close()
    return arts


def input_shapes(run_dir: Path) -> dict[str, list[int]] | None:
    """The real input signature at batch 1 from the data pass's ``preprocess.json`` (text:
    ``input_ids``/``attention_mask`` of the data's sequence length), so a file with dynamic
    axes is profiled on what it will see. None for one float input (the file's own shape)."""
    import json

    path = run_dir / "preprocess.json"
    if not path.is_file():
        return None
    specs = json.loads(path.read_text(encoding="utf-8")).get("inputs") or []
    if not specs or (len(specs) == 1 and specs[0]["dtype"] == "float32"):
        return None
    return {s["name"]: [1, *s["shape"]] for s in specs}
