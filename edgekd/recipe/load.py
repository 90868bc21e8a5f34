"""Load a recipe: ``yaml.safe_load`` (a recipe never executes code), ``--set`` overrides,
validation into :class:`Recipe`, and errors that name the field path, value and what is allowed.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from edgekd.errors import RecipeError
from edgekd.recipe.schema import Recipe

DEFAULT_RECIPE = "default.yaml"


def default_recipe_text() -> str:
    """The built-in recipe (commented; ``edgekd init`` writes it out as a starter)."""
    return (resources.files("edgekd.recipe") / DEFAULT_RECIPE).read_text(encoding="utf-8")


def load_recipe(path: str | Path | None = None, overrides: list[str] | None = None) -> Recipe:
    """Read ``path`` (or the built-in recipe), apply ``key.path=value`` overrides, validate.

    Relative ``data.path`` / ``teacher.path`` resolve against the recipe file's directory.
    """
    if path is None:
        raw, where, base = _parse_yaml(default_recipe_text(), "<built-in recipe>"), "built-in", None
    else:
        p = Path(path)
        raw, where, base = _parse_yaml(read_recipe_text(p), str(p)), str(p), p.parent
        if raw is None:
            raise RecipeError(
                f"{p}: the recipe is empty; write at least one section (`edgekd init {p} "
                "--force` writes a commented starter), or leave the recipe out to run the "
                "built-in one"
            )
    if not isinstance(raw, dict):
        raise RecipeError(f"{where}: expected a mapping of sections at the top level")
    for item in overrides or []:
        _apply_override(raw, item)
    if base is not None:
        _resolve_paths(raw, base)
    return validate(raw, where)


def read_recipe_text(path: Path) -> str:
    """The text of a recipe file, or a ``RecipeError`` naming it: missing, a directory,
    unreadable, or not UTF-8 text (a binary file given by mistake)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RecipeError(f"recipe file not found: {path}") from None
    except IsADirectoryError:
        raise RecipeError(f"{path}: is a directory; expected a recipe YAML file") from None
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read the recipe ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecipeError(
            f"{path}: not UTF-8 YAML text (byte {exc.start} is {data[exc.start]:#04x}); "
            "a recipe is a YAML file like the one `edgekd init` writes"
        ) from None


def validate(raw: dict[str, Any], where: str = "recipe") -> Recipe:
    try:
        return Recipe.model_validate(raw)
    except ValidationError as exc:
        raise RecipeError(f"{where}: " + "; ".join(_describe(e) for e in exc.errors())) from None


def _parse_yaml(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RecipeError(f"{where}: YAML syntax error{pos}: {exc.problem}") from None
    except yaml.YAMLError as exc:  # e.g. ReaderError: a control character; one line
        raise RecipeError(f"{where}: YAML error: {' '.join(str(exc).split())}") from None


def _apply_override(raw: dict[str, Any], item: str) -> None:
    """``distill.temperature=6`` sets raw['distill']['temperature'] = 6 (value parsed as YAML)."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"--set {item!r}: expected KEY.PATH=VALUE, e.g. distill.temperature=6")
    parts = key.strip().split(".")
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise RecipeError(f"--set {item!r}: {part} is not a section")
        node = child
    try:
        node[parts[-1]] = yaml.safe_load(value)
    except yaml.YAMLError:
        node[parts[-1]] = value


def _resolve_paths(raw: dict[str, Any], base: Path) -> None:
    """File paths in the recipe are relative to the recipe file: ``data.path``, a teacher's
    ``path``, a model's ``weights``, and the DIR / FILE of ``hf:DIR`` and ``module:FILE:FUNC``."""
    teachers = raw.get("teachers")
    sections = [raw.get("data"), raw.get("teacher"), raw.get("student")]
    sections += teachers if isinstance(teachers, list) else []  # a non-list fails validation
    for sec in sections:
        if not isinstance(sec, dict):
            continue
        for key in ("path", "weights"):
            if isinstance(sec.get(key), str):
                sec[key] = str(_relative_to(base, sec[key]))
        model = sec.get("model")
        if isinstance(model, str) and model.startswith(("hf:", "module:")):
            source, _, rest = model.partition(":")
            if source == "module" and ":" in rest:
                file, _, func = rest.rpartition(":")
                sec["model"] = f"module:{_relative_to(base, file)}:{func}"
            elif source == "hf":
                sec["model"] = f"hf:{_relative_to(base, rest)}"


def _relative_to(base: Path, path: str) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else base / p


def _loc_part(x: Any) -> str:
    """A key as written, quoted when it is not a plain name (a newline, a dot, empty)."""
    text = str(x)
    return text if text and text.replace("_", "a").replace("-", "a").isalnum() else repr(x)


def _describe(err: Any) -> str:
    loc = ".".join(_loc_part(x) for x in err["loc"]) or "<top>"
    if err["type"] == "extra_forbidden":
        return f"{loc}: unknown key (check the spelling; `edgekd init` writes every key)"
    if err["type"] == "value_error":  # a model validator's own message says it all
        msg = str(err["msg"]).removeprefix("Value error, ")
        if loc == "<top>":
            return msg
        # "field: ..." from a section's validator names a field of that section
        return f"{loc}.{msg}" if re.match(r"[a-z_]+: ", msg) else f"{loc}: {msg}"
    value = err.get("input")
    shown = repr(value) if not isinstance(value, dict) else "a mapping"
    msg = err["msg"]
    ctx = err.get("ctx") or {}
    if "expected" in ctx:
        msg = f"expected one of {ctx['expected']}"
    return f"{loc}: got {shown}; {msg[0].lower() + msg[1:]}"
