"""The ``data`` pass: the run's data, described in the run directory.

The splits themselves are a service every pass reads (``env.data``: loaded once from the
recipe's ``data`` section, read batch by batch); this pass writes the preprocessing every
runtime must apply (``preprocess.json``: normalization from the train split, image size,
the input signature, the teacher's view; ``tokenizer/`` for text) and a summary of the splits.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from edgekd.artifact import Artifact
from edgekd.passes import Services

if TYPE_CHECKING:
    from edgekd.recipe.schema import Recipe


def run(inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services) -> list[Artifact]:
    from edgekd.data.views import save_preprocess

    data = env.data
    save_preprocess(data, run_dir)
    summary = {
        "name": data.name,
        "hash": data.hash,
        "num_classes": data.num_classes,
        "input_shape": list(data.input_shape),
        "sizes": {s: len(getattr(data, s)) for s in ("train", "val", "test", "calib")},
        "labeled": data.train.y is not None,
        "preprocess": "preprocess.json",
    }
    art = Artifact(
        id="data",
        role="data",
        stage="data",
        format="json",
        precision=None,
        path="preprocess.json",
        extra={"summary": summary},
    )
    return [art.stamp(run_dir)]
