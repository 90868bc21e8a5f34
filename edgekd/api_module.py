"""Stage packages that are also API functions: ``edgekd.distill(...)`` and
``import edgekd.distill.losses`` both work.

``edgekd/distill/``, ``prune/``, ``quantize/`` and ``profile/`` share their names with the API
functions ``edgekd.distill()`` .... Each package's ``__init__`` calls :func:`make_callable`,
which gives the package module a class whose ``__call__`` runs the API function. The package
stays an ordinary module in ``sys.modules`` (so submodule imports work), and the attribute
the import system binds on ``edgekd`` is the same callable module.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any


class CallableModule(types.ModuleType):
    """A package whose call runs the function named by ``__api__`` (``module:function``)."""

    __api__: str

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return api_function(self)(*args, **kwargs)


def api_function(module: types.ModuleType) -> Any:
    """The function a callable package delegates to."""
    mod, _, name = module.__api__.partition(":")
    return getattr(importlib.import_module(mod), name)


def make_callable(package: str, api: str) -> None:
    """Make the package ``package`` callable as the function ``api`` (``module:function``)."""
    module = sys.modules[package]
    module.__class__ = CallableModule
    module.__api__ = api  # type: ignore[attr-defined]
