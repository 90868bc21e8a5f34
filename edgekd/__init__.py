"""edgekd: distill, prune, quantize, export and profile models for edge devices.

The public API is imported lazily so that ``import edgekd`` (and ``edgekd --help``)
never loads torch or tensorflow.

``edgekd.distill``, ``edgekd.prune``, ``edgekd.quantize`` and ``edgekd.profile`` are the
stage packages themselves, made callable (``edgekd.api_module``): ``edgekd.distill(...)``
runs ``edgekd.distill.api.distill`` and ``import edgekd.distill.losses as L`` works as usual.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (one explicit table, no import-time registration);
# a callable stage package is its own module
_API: dict[str, str] = {
    "Recipe": "edgekd.recipe.schema",
    "load_recipe": "edgekd.recipe.load",
    "compress": "edgekd.pipeline.compress",
    "fit": "edgekd.fit",
    "distill": "edgekd.distill",
    "prune": "edgekd.prune",
    "quantize": "edgekd.quantize",
    "export_onnx": "edgekd.export.onnx_export",
    "export_tflite": "edgekd.export.tflite_export",
    "profile": "edgekd.profile",
    "load_target": "edgekd.profile.targets",
    "load_data": "edgekd.data.loaders",
    "build_model": "edgekd.models.zoo",
    "import_completions": "edgekd.completions.api",
    "pull_completions": "edgekd.completions.api",
    "generate_completions": "edgekd.completions.api",
    "completions_stats": "edgekd.completions.api",
    "eval_completions": "edgekd.completions.api",
    "read_completions": "edgekd.completions.dataset",
    "export_lm": "edgekd.export.lm_export",
    "generate": "edgekd.runtime.lm_generate",
    "distill_lm": "edgekd.distill.lm_api",
    "LMStudent": "edgekd.distill.lm_api",
    "evaluate_lm": "edgekd.evaluate.lm_stage",
    "LMDistillConfig": "edgekd.distill.lm_config",
}


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'edgekd' has no attribute {name!r}")
    module = importlib.import_module(_API[name])
    return module if module.__name__ == f"edgekd.{name}" else getattr(module, name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
