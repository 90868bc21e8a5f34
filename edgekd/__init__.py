"""edgekd: distill, prune, quantize, export and profile models for edge devices.

The public API is imported lazily so that ``import edgekd`` (and ``edgekd --help``)
never loads torch or tensorflow.

``edgekd.distill``, ``edgekd.prune``, ``edgekd.quantize`` and ``edgekd.profile`` are API
functions that share their names with subpackages (``edgekd/distill/`` ...). The import
system binds a subpackage onto its parent when it is first imported, which would shadow the
function; so these names are properties of the package's module type, which take precedence
over that binding. ``import edgekd.distill.losses`` and ``from edgekd.distill import ...``
work as usual, through ``sys.modules``.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (one explicit table, no import-time registration)
_API: dict[str, str] = {
    "Recipe": "edgekd.recipe.schema",
    "load_recipe": "edgekd.recipe.load",
    "compress": "edgekd.pipeline.compress",
    "distill": "edgekd.distill.api",
    "prune": "edgekd.prune.api",
    "quantize": "edgekd.quantize.api",
    "export_onnx": "edgekd.export.onnx_export",
    "export_tflite": "edgekd.export.tflite_export",
    "profile": "edgekd.profile.api",
    "load_target": "edgekd.profile.targets",
    "load_data": "edgekd.data.loaders",
    "build_model": "edgekd.models.zoo",
    "import_completions": "edgekd.completions.api",
    "pull_completions": "edgekd.completions.api",
    "generate_completions": "edgekd.completions.api",
    "completions_stats": "edgekd.completions.api",
    "eval_completions": "edgekd.completions.api",
    "read_completions": "edgekd.completions.dataset",
}
_SHADOWED = ("distill", "prune", "quantize", "profile")


def _load(name: str) -> Any:
    return getattr(importlib.import_module(_API[name]), name)


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'edgekd' has no attribute {name!r}")
    return _load(name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])


def _api_property(name: str) -> property:
    # the setter ignores the import system's binding of the same-named subpackage
    return property(lambda self: _load(name), lambda self, value: None)


class _EdgekdModule(types.ModuleType):
    distill = _api_property("distill")
    prune = _api_property("prune")
    quantize = _api_property("quantize")
    profile = _api_property("profile")


sys.modules[__name__].__class__ = _EdgekdModule
