"""``module:FILE.py:FUNC``: a user's own ``nn.Module`` factory.

Importing ``FILE.py`` runs its code, so edgekd does it only when the recipe says
``trust_code: true``. ``FUNC`` is called with the keyword arguments it declares among
``num_classes`` (the data's class count), ``input_shape`` (one sample's shape, e.g.
``(3, 32, 32)``) and ``in_channels``, and must return an ``nn.Module`` whose forward maps a
batch to logits.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekd.errors import RecipeError, UsageError

if TYPE_CHECKING:
    from torch import nn

    from edgekd.models.spec import ModelSpec


def split_target(name: str) -> tuple[Path, str]:
    """``path/to/file.py:build`` -> (Path, ``build``)."""
    file, _, func = name.rpartition(":")
    if not file or not func.isidentifier():
        raise RecipeError(f"module:{name}: expected module:FILE.py:FUNC")
    return Path(file), func


def trust_error(where: str, name: str) -> RecipeError:
    return RecipeError(
        f"{where}.model: module:{name} imports and runs the Python code in "
        f"{split_target(name)[0]}; set {where}.trust_code: true if you trust that file"
    )


def build_user_module(spec: ModelSpec) -> nn.Module:
    """Import the factory's file (only with ``trust_code``) and call the factory."""
    from torch import nn

    if not spec.options.get("trust_code"):
        raise trust_error(spec.options.get("where", "student"), spec.name)
    path, func = split_target(spec.name)
    factory = _load_factory(path, func)
    offered: dict[str, Any] = {
        "num_classes": spec.num_classes,
        "input_shape": tuple(spec.input_shape),
        "in_channels": int(spec.input_shape[0]) if spec.input_shape else None,
    }
    params = inspect.signature(factory).parameters
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in offered.items() if takes_all or k in params}
    try:
        model = factory(**kwargs)
    except Exception as exc:
        raise UsageError(
            f"module:{spec.name}: {func}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())}) "
            f"raised {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(model, nn.Module):
        raise UsageError(
            f"module:{spec.name}: {func}() returned {type(model).__name__}, expected an nn.Module"
        )
    return model


def _load_factory(path: Path, func: str) -> Any:
    if not path.is_file():
        raise RecipeError(f"module:{path}:{func}: file not found: {path}")
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(f"edgekd_user_{digest}", path)
    if spec is None or spec.loader is None:
        raise RecipeError(f"module:{path}:{func}: {path} is not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise UsageError(
            f"module:{path}:{func}: importing {path} raised {type(exc).__name__}: {exc}"
        ) from None
    factory = getattr(module, func, None)
    if not callable(factory):
        found = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise RecipeError(
            f"module:{path}:{func}: {path} defines no function {func!r} "
            f"(callables there: {', '.join(found) or 'none'})"
        )
    return factory
