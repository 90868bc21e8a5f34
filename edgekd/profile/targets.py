"""Load device targets and runtime data shipped in ``targets/`` (package ``edgekd._targets``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from edgekd.errors import TargetError
from edgekd.profile.schema import CoreType, Runtime, Target

RUNTIMES_FILE = "runtimes.yaml"
CORES_FILE = "cores.yaml"
DATA_FILES = (RUNTIMES_FILE, CORES_FILE)


def targets_dir() -> Path:
    """Directory holding the shipped target files (installed package data or the repo's)."""
    try:
        from importlib.resources import files

        d = Path(str(files("edgekd._targets")))
        if (d / RUNTIMES_FILE).is_file():
            return d
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parents[2] / "targets"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TargetError(f"{path}: cannot read target file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise TargetError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise TargetError(f"{path}: expected a mapping of target fields")
    return data


def _explain(path: Path, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"{loc}: {err['msg']}")
    return f"{path}: invalid target: " + "; ".join(lines)


def shipped_target_ids() -> list[str]:
    return sorted(p.stem for p in targets_dir().glob("*.yaml") if p.name not in DATA_FILES)


def load_target_file(path: str | Path) -> Target:
    """Validate one target YAML; errors name the file and field path."""
    p = Path(path)
    try:
        return Target.model_validate(_read_yaml(p))
    except ValidationError as exc:
        raise TargetError(_explain(p, exc)) from None


@lru_cache(maxsize=64)
def _load_shipped(name: str) -> Target:
    return load_target_file(targets_dir() / f"{name}.yaml")


def load_target(name_or_path: str | Path) -> Target:
    """A shipped target by id (``pixel-4``) or a user's target YAML by path."""
    s = str(name_or_path)
    if isinstance(name_or_path, Path) or s.endswith((".yaml", ".yml")) or "/" in s:
        return load_target_file(Path(s))
    ids = shipped_target_ids()
    if s not in ids:
        raise TargetError(f"unknown target {s!r}; valid targets: {', '.join(ids)}")
    return _load_shipped(s)


def list_targets() -> list[Target]:
    """Every shipped target, sorted by id."""
    return [_load_shipped(i) for i in shipped_target_ids()]


def runtime_names() -> tuple[str, ...]:
    """Every runtime edgekd knows: the entries of the shipped ``runtimes.yaml``."""
    return tuple(_read_yaml(targets_dir() / RUNTIMES_FILE))


def load_runtimes(path: str | Path | None = None) -> dict[str, Runtime]:
    """Runtime cost models and support from ``runtimes.yaml`` (written by calibrate.py)."""
    if path is None:
        return dict(_shipped_runtimes())
    return _parse_runtimes(Path(path))


@lru_cache(maxsize=1)
def _shipped_runtimes() -> dict[str, Runtime]:
    return _parse_runtimes(targets_dir() / RUNTIMES_FILE)


def _parse_runtimes(p: Path) -> dict[str, Runtime]:
    data = _read_yaml(p)
    out: dict[str, Runtime] = {}
    for name, body in data.items():
        try:
            out[name] = Runtime.model_validate(body)
        except ValidationError as exc:
            raise TargetError(
                _explain(p, exc).replace("invalid target", f"invalid runtime {name}")
            ) from None
    return out


@lru_cache(maxsize=4)
def load_cores(path: str | None = None) -> dict[str, CoreType]:
    """Core types (``cores.yaml``): sustained share of peak per kernel library."""
    p = Path(path) if path else targets_dir() / CORES_FILE
    out: dict[str, CoreType] = {}
    for name, body in _read_yaml(p).items():
        try:
            out[name] = CoreType.model_validate(body)
        except ValidationError as exc:
            raise TargetError(
                _explain(p, exc).replace("invalid target", f"invalid core type {name}")
            ) from None
    return out
