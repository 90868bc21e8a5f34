"""The ``data`` pass of a ``task: causal_lm`` recipe: the completions dataset's splits,
described in the run directory (``data.json``); the passes after it read the file itself."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from edgekd.artifact import Artifact
from edgekd.fileio import atomic_write_json
from edgekd.passes import Services

if TYPE_CHECKING:
    from edgekd.recipe.schema import Recipe


def run(inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services) -> list[Artifact]:
    from edgekd.completions.dataset import read_dataset
    from edgekd.completions.records import SPLITS

    path = Path(cfg.data.path or "")
    records = read_dataset(path)
    summary = {
        "name": "completions",
        "task": "causal_lm",
        "path": str(path),
        "hash": env.data_hash(),
        "sizes": {s: sum(r["split"] == s for r in records) for s in SPLITS},
        "with_logprobs": sum(r.get("logprobs") is not None for r in records),
    }
    atomic_write_json(run_dir / "data.json", summary)
    art = Artifact(
        id="data",
        role="data",
        stage="data",
        format="json",
        precision=None,
        path="data.json",
        extra={"summary": summary},
    )
    return [art.stamp(run_dir)]
