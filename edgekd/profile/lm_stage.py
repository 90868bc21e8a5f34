"""The ``profile`` pass of a ``task: causal_lm`` recipe: every exported file that passed its
gate, profiled by :func:`edgekd.profile.lm_profile.profile_lm` on the recipe's ``targets``
(prefill and decode, tokens/s and time to first token against budgets such as
``tokens_per_s``), its profile in ``extra["profile"]`` like any artifact's."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from edgekd.artifact import Artifact
from edgekd.passes import Services

if TYPE_CHECKING:
    from edgekd.recipe.schema import Recipe


def run(inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services) -> list[Artifact]:
    from edgekd.profile.lm_profile import profile_lm

    arts = [a for a in inputs if a.format in ("onnx", "tflite") and a.status == "ok"]
    t = cfg.targets
    task = env.reporter.task("profile LM files", len(arts))
    try:
        for i, art in enumerate(arts):
            result = profile_lm(
                art.absolute(run_dir),
                list(t.names),
                t.runtime,
                {k: dict(v) for k, v in t.budgets.items()},
                t.measure,
                t.threads,
                t.strict,
            )
            result["model"]["path"] = art.path
            art.macs = result["model"].get("macs", art.macs)
            art.extra["profile"] = result
            task.update(i + 1, art.id)
    finally:
        task.close()
    return arts
