"""What stages share while a run is in progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgekd.cache import Cache
from edgekd.data.loaders import DataSplits
from edgekd.progress import Reporter
from edgekd.recipe.schema import Recipe
from edgekd.rundir import RunDir
from edgekd.teacher.load import Teacher


@dataclass
class Context:
    recipe: Recipe
    run: RunDir
    reporter: Reporter
    cache: Cache
    data: DataSplits | None = None
    teacher: Teacher | None = None
    teacher_logits: dict[str, np.ndarray] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)  # artifact id -> torch nn.Module
    deploy: str = "student"  # id of the torch model that the export stages export

    def require_data(self) -> DataSplits:
        assert self.data is not None, "the data stage runs first"
        return self.data
