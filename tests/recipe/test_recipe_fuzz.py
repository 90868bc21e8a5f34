"""Property-based tests of the recipe loader and the ``--set`` parser (Hypothesis).

Whatever the YAML document or the override strings, ``load_recipe`` either returns a valid
``Recipe`` or raises ``RecipeError`` (exit 2) with one line that says where (the recipe file or
the ``--set`` item) and which field; never another exception. Deterministic
(``derandomize=True``) and bounded, so it runs in ``make test``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from edgekd.errors import RecipeError
from edgekd.recipe.load import load_recipe
from edgekd.recipe.schema import Recipe

SETTINGS = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def field_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every field path of the schema (``distill.temperature``...), sections included."""
    out = []
    for name, f in model.model_fields.items():
        path = f"{prefix}{name}"
        out.append(path)
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out += field_paths(ann, path + ".")
    return out


PATHS = field_paths(Recipe)
SECTIONS = list(Recipe.model_fields)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["digits", "npz", "onnx", "kl", "static", "cnn", "mlp", "../x", "-1", "1e9"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
keys = st.one_of(st.sampled_from(PATHS), st.text(max_size=10))


@st.composite
def recipes(draw: st.DrawFn) -> Any:
    """Mostly mappings shaped like a recipe (real sections and keys, random values), sometimes
    any YAML value at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(values)
    doc: dict[Any, Any] = {}
    for path in draw(st.lists(keys, max_size=6)):
        node = doc
        parts = path.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[parts[-1]] = draw(values)
    if draw(st.booleans()):
        doc[draw(st.sampled_from(SECTIONS))] = draw(values)
    return doc


def load(text: str, overrides: list[str] | None = None) -> Recipe | RecipeError:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "r.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            return load_recipe(path, overrides)
        except RecipeError as exc:
            message = str(exc)
            assert message and "\n" not in message, message
            assert message.startswith((str(path), "--set ")), message
            return exc


def named_field(message: str, doc: Any = None) -> bool:
    """After ``WHERE: `` the message starts with a location: a section or key of the document
    (the one that is wrong), the top level, or the YAML position; or it is a ``--set`` item."""
    if message.startswith("--set "):
        return True
    rest = message.split(": ", 1)[1] if ": " in message else ""
    top = [t for k in doc for t in (str(k), repr(k))] if isinstance(doc, dict) else []
    return rest.startswith(
        (*SECTIONS, *top, "<top>", "YAML", "expected a mapping", "the recipe is empty")
    )


@SETTINGS
@given(doc=recipes())
def test_any_recipe_mapping_validates_or_names_a_field(doc):
    text = yaml.safe_dump(doc, allow_unicode=True)
    result = load(text)
    if isinstance(result, RecipeError):
        assert named_field(str(result), doc), str(result)


@SETTINGS
@given(text=st.text(max_size=200))
def test_any_yaml_text_validates_or_raises_recipe_error(text):
    result = load(text)
    if isinstance(result, RecipeError):
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            doc = None
        assert named_field(str(result), doc), str(result)


@SETTINGS
@given(
    sets=st.lists(
        st.one_of(
            st.text(max_size=30),
            st.builds(lambda k, v: f"{k}={v}", keys, st.text(max_size=15)),
            st.builds(
                lambda k, v: f"{k}={yaml.safe_dump(v).strip()}", st.sampled_from(PATHS), values
            ),
        ),
        max_size=4,
    )
)
def test_any_set_strings_validate_or_raise_recipe_error(sets):
    result = load("{}\n", sets)
    if isinstance(result, RecipeError):
        # the loader strips a --set key ("0 =" is key "0"), so the message names it stripped
        keys = {s.partition("=")[0].strip().split(".")[0]: None for s in sets}
        assert named_field(str(result), keys), str(result)
    else:
        assert isinstance(result, Recipe)


def test_nan_and_inf_are_refused_naming_the_field():
    """`inf` parses as a float and passed `gt=0` bounds (a temperature of inf trains NaN)."""
    for value in ("nan", "inf", ".inf", "-.inf"):
        result = load("{}\n", [f"distill.temperature={value}"])
        assert isinstance(result, RecipeError), value
        assert "distill.temperature" in str(result)


def test_regressions_found_by_fuzzing(tmp_path):
    """Each was an exit 1 or a multi-line message before: a non-list `teachers` in a recipe
    file (TypeError while resolving paths), a key with a newline, a control character."""
    for text, expected in [
        ("teachers: 5\n", "teachers: got 5; input should be a valid list"),
        ('"a\\nb": 1\n', "'a\\nb': unknown key"),
        ("\x1f", "YAML error: unacceptable character #x001f"),
    ]:
        result = load(text)
        assert isinstance(result, RecipeError) and expected in str(result), (text, result)
