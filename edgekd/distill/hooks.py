"""Capture intermediate features by module path with forward hooks.

Losses never reach into a model: a :class:`FeatureHooks` fills a dict ``{path: tensor}`` on
every forward pass (as torchdistill's forward-hook manager does), and losses read the dict.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import torch
from torch import nn

from edgekd.errors import RecipeError


def resolve_module(model: nn.Module, path: str, where: str) -> nn.Module:
    """The submodule at ``path`` (``features.block0.conv``); an unknown path lists close matches.

    ``where`` names the recipe field, e.g. ``distill.fitnets.hints[0].student``.
    """
    modules = dict(model.named_modules())
    if path in modules and path != "":
        return modules[path]
    names = [n for n in modules if n]
    close = difflib.get_close_matches(path, names, n=5, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else ""
    raise RecipeError(
        f"{where}: no module named {path!r} in the {type(model).__name__}; {hint} "
        f"(layers: {', '.join(names[:40])}{', ...' if len(names) > 40 else ''})".replace(
            ";  (", "; ("
        )
    )


class FeatureHooks:
    """Forward hooks on the named modules; ``features[path]`` holds the latest output.

    Use as a context manager so the hooks are removed afterwards::

        with FeatureHooks(model, ["features.block1"], "distill.fitnets") as hooks:
            model(x)
            f = hooks.features["features.block1"]
    """

    def __init__(self, model: nn.Module, paths: Iterable[str], where: str = "layer") -> None:
        self.features: dict[str, torch.Tensor] = {}
        self._handles = []
        for path in dict.fromkeys(paths):  # unique, in order
            module = resolve_module(model, path, where)
            self._handles.append(module.register_forward_hook(self._store(path)))

    def _store(self, path: str):
        def hook(_m: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
            self.features[path] = out

        return hook

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def __enter__(self) -> FeatureHooks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()
