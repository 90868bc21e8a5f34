"""The ``evaluate`` pass: every model artifact on the recipe's splits, run by the runtime
that will run it (torch, onnxruntime, LiteRT), so a report's accuracy is the accuracy of
the file that ships. The teacher is scored from its cached outputs, never run again.

``RUNNERS`` maps an artifact format to its runtime's name and a function that returns its
logits for a split, read batch by batch (no split is one array in memory).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from edgekd.artifact import Artifact
from edgekd.passes import Services

if TYPE_CHECKING:
    import numpy as np

    from edgekd.data.dataset import Split
    from edgekd.recipe.schema import Recipe

Predict = Callable[[Artifact, Path, "Split", int], "np.ndarray"]


def _torch(art: Artifact, run_dir: Path, x: Split, batch: int) -> np.ndarray:
    from edgekd.models.load import load_artifact
    from edgekd.train.loop import predict

    return predict(load_artifact(art, run_dir), x, batch)


def _onnx(art: Artifact, run_dir: Path, x: Split, batch: int) -> np.ndarray:
    from edgekd.runtime.onnx import OnnxRunner

    return OnnxRunner(art.absolute(run_dir)).predict(x, batch)


def _tflite(art: Artifact, run_dir: Path, x: Split, batch: int) -> np.ndarray:
    from edgekd.runtime.litert import TfliteRunner

    return TfliteRunner(art.absolute(run_dir)).predict(x)


def _keras(art: Artifact, run_dir: Path, x: Split, batch: int) -> np.ndarray:
    from edgekd.models.keras_files import load_student

    model = load_student(art.absolute(run_dir))
    return model.predict(x.x, batch_size=batch, verbose=0)


RUNNERS: dict[str, tuple[str, Predict]] = {
    "torch": ("torch", _torch),
    "keras": ("tensorflow", _keras),
    "onnx": ("onnxruntime", _onnx),
    "tflite": ("litert", _tflite),
}
TEACHER_RUNTIME = {"sklearn": "scikit-learn"}  # teachers are scored from their outputs


def run(inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services) -> list[Artifact]:
    import numpy as np

    from edgekd.evaluate.metrics import classification_metrics
    from edgekd.teacher.stage import logits_of

    data, ev = env.data, cfg.evaluate
    teacher = logits_of(inputs, run_dir)
    arts = [a for a in inputs if a.is_model and a.status == "ok"]
    task = env.reporter.task("evaluate artifacts", len(arts))
    try:
        for i, art in enumerate(arts):
            runtime, predict = RUNNERS.get(art.format, (TEACHER_RUNTIME.get(art.format), None))
            art.metrics = {}
            for split in ev.splits:
                part = getattr(data, split)
                assert part.y is not None, f"the {split} split needs labels"
                t_logits = np.asarray(teacher[split])  # memory-mapped shards, read once
                if art.id == "teacher" or predict is None:
                    logits = t_logits
                else:
                    logits = predict(art, run_dir, part, ev.batch_size)
                found = classification_metrics(logits, part.y, t_logits, ev.metrics)
                prefix = "" if split == "test" else f"{split}_"
                art.metrics.update({prefix + k: v for k, v in found.items()})
            art.extra["runtime"] = runtime
            task.update(i + 1, art.id)
    finally:
        task.close()
    return arts
