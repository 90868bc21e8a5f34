"""edgekd: distill, prune, quantize, export and profile models for edge devices.

The public API is imported lazily so that ``import edgekd`` (and ``edgekd --help``)
never loads torch or tensorflow.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (one explicit table, no import-time registration)
_API: dict[str, str] = {
    "Recipe": "edgekd.recipe.schema",
    "load_recipe": "edgekd.recipe.load",
    "compress": "edgekd.pipeline.compress",
    "distill": "edgekd.distill.api",
    "export_onnx": "edgekd.export.onnx_export",
    "load_data": "edgekd.data.loaders",
    "build_model": "edgekd.models.zoo",
}


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'edgekd' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
