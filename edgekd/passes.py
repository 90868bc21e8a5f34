"""What every pass gets besides its input artifacts.

A pass is a function ``run(inputs, cfg, run_dir, env) -> list[Artifact]`` in its stage's
``stage.py``: it reads its input artifacts (files in ``run_dir``), writes its outputs there
atomically and returns them; ``cfg`` is the whole (frozen) recipe. Passes never share
objects in memory: models travel as files (safetensors + a model spec, or ``.pt2``).
``env`` carries the read-only services below; the pipeline (``edgekd.pipeline``) decides
which passes run, in what order, and skips those whose outputs exist for the same inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edgekd.artifact import Artifact
from edgekd.cache import Cache
from edgekd.progress import Reporter

if TYPE_CHECKING:
    from edgekd.data.loaders import DataSplits
    from edgekd.recipe.schema import Recipe


@dataclass(frozen=True)
class Services:
    """Progress reporting, the cache, and the run's data (loaded once, on first use)."""

    reporter: Reporter
    cache: Cache
    load_data: Callable[[], DataSplits]
    # the data's content hash when it is not arrays (task: causal_lm: the completions file)
    hash_data: Callable[[], str] | None = None

    @property
    def data(self) -> DataSplits:
        return self.load_data()

    def data_hash(self) -> str:
        """What a pass's key records of the data (``DataSplits.hash`` for array data)."""
        return self.hash_data() if self.hash_data is not None else self.data.hash


PassFn = Callable[[list[Artifact], "Recipe", Path, Services], list[Artifact]]


def pick(inputs: list[Artifact], artifact_id: str) -> Artifact:
    """The input artifact with this id (the plan guarantees it is there)."""
    for a in inputs:
        if a.id == artifact_id:
            return a
    raise KeyError(f"pass input {artifact_id!r} is missing (inputs: {[a.id for a in inputs]})")


def the_model(inputs: list[Artifact]) -> Artifact:
    """The one model artifact among a pass's inputs."""
    (model,) = [a for a in inputs if a.is_model]
    return model
