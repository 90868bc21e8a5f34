"""Capture intermediate features by module path with forward hooks.

Losses never reach into a model: a :class:`FeatureHooks` fills a dict ``{path: tensor}`` on
every forward pass (as torchdistill's forward-hook manager does), and losses read the dict.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from edgekd.errors import RecipeError


def resolve_module(model: nn.Module, path: str, where: str) -> nn.Module:
    """The submodule at ``path`` (``features.block0.conv``); an unknown path lists close matches
    and the model's layers, shallowest first (any model: zoo, torchvision, timm, transformers).

    ``where`` names the recipe field, e.g. ``distill.fitnets.hints[0].student``.
    """
    modules = dict(model.named_modules())
    if path in modules and path != "":
        return modules[path]
    names = [n for n in modules if n]
    close = [n for n in names if n.endswith(f".{path}")][:3]  # a wrapper's prefix left out
    close += [n for n in difflib.get_close_matches(path, names, n=5, cutoff=0.5) if n not in close]
    hint = f"did you mean {', '.join(close[:5])}? " if close else ""
    depth = {n: n.count(".") for n in names}
    shown = sorted(names, key=lambda n: depth[n])[:40]  # stable: same depth keeps model order
    raise RecipeError(
        f"{where}: no module named {path!r} in the {type(model).__name__}; {hint}"
        f"(layers: {', '.join(shown)}{', ...' if len(names) > 40 else ''})"
    )


def first_tensor(out: Any) -> torch.Tensor:
    """A layer's output as one tensor: transformers layers may return a tuple or a
    ``ModelOutput`` whose first entry is the hidden state."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, dict):  # ModelOutput is an OrderedDict
        out = tuple(out.values())
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise TypeError(f"a hooked layer returned {type(out).__name__}, not a tensor")


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
        def hook(_m: nn.Module, _inp: tuple, out: Any) -> None:
            self.features[path] = first_tensor(out)

        return hook

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def __enter__(self) -> FeatureHooks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()
