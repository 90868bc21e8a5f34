from pathlib import Path

import pytest
from pydantic import ValidationError

from edgekd.errors import RecipeError
from edgekd.recipe.load import default_recipe_text, load_recipe
from edgekd.recipe.schema import Recipe


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "r.yaml"
    p.write_text(text)
    return p


def test_builtin_recipe_validates_and_profiles_a_phone_a_board_and_an_mcu():
    r = load_recipe(None)
    assert isinstance(r, Recipe)
    assert r.targets.names == ["pixel-4", "rpi-4", "nano-33-ble"]


def test_set_overrides_nested_fields_with_yaml_values(tmp_path):
    r = load_recipe(
        write(tmp_path, "distill: {temperature: 2}\n"),
        ["distill.temperature=6", "export.formats=[onnx]"],
    )
    assert r.distill.temperature == 6.0
    assert r.export.formats == ["onnx"]


def test_relative_paths_resolve_against_the_recipe_file(tmp_path):
    r = load_recipe(write(tmp_path, "data: {source: csv, path: d.csv}\n"))
    assert r.data.path == tmp_path / "d.csv"


def test_recipe_is_frozen():
    r = Recipe()
    with pytest.raises(ValidationError, match="frozen"):
        r.distill.temperature = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("distill: {temprature: 4}\n", "distill.temprature: unknown key"),
        (
            "distill: {temperature: 0}\n",
            "distill.temperature: got 0; input should be greater than 0",
        ),
        ("distill: {temperature: -1}\n", "distill.temperature: got -1"),
        (
            "distill: {alpha: 1.5}\n",
            "distill.alpha: got 1.5; input should be less than or equal to 1",
        ),
        ("distill: {alpha: -0.1}\n", "distill.alpha: got -0.1"),
        (
            "distill: {epochs: 0}\n",
            "distill.epochs: got 0; input should be greater than or equal to 1",
        ),
        (
            "distill: {epochs: many}\n",
            "distill.epochs: got 'many'; input should be a valid integer",
        ),
        (
            "distill: {divergence: l2}\n",
            "distill.divergence: got 'l2'; expected one of 'kl', 'reverse_kl', 'jsd' or 'tv'",
        ),
        ("bogus: 1\n", "bogus: unknown key"),
    ],
)
def test_invalid_fields_name_path_value_and_what_is_allowed(tmp_path, text, needle):
    with pytest.raises(RecipeError) as e:
        load_recipe(write(tmp_path, text))
    assert needle in str(e.value)
    assert str(tmp_path / "r.yaml") in str(e.value)


def test_yaml_syntax_error_reports_line_and_column(tmp_path):
    with pytest.raises(RecipeError, match=r"YAML syntax error at line 3, column \d+"):
        load_recipe(write(tmp_path, "data:\n  source: digits\n  seed: 1: 2\n"))


def test_missing_recipe_file(tmp_path):
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "nope.yaml")


def test_bad_override_syntax():
    with pytest.raises(RecipeError, match="expected KEY.PATH=VALUE"):
        load_recipe(None, ["distill.temperature"])


def test_yaml_tags_never_execute_code(tmp_path):
    with pytest.raises(RecipeError, match="YAML"):
        load_recipe(write(tmp_path, "data: !!python/object/apply:os.system ['true']\n"))


def test_starter_recipe_is_commented_and_valid(tmp_path):
    text = default_recipe_text()
    assert text.count("#") > 10
    assert load_recipe(write(tmp_path, text)) == load_recipe(None)


@pytest.mark.parametrize(
    "content",
    [
        bytes(range(256)),  # binary garbage
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",  # an image passed by mistake
        "distill: {temperature: 4}\n".encode("utf-16"),  # text, but not UTF-8
    ],
)
def test_a_recipe_that_is_not_utf8_text_names_the_file(tmp_path, content):
    p = tmp_path / "r.yaml"
    p.write_bytes(content)
    with pytest.raises(RecipeError) as e:
        load_recipe(p)
    assert str(p) in str(e.value) and "not UTF-8 YAML text" in str(e.value)


def test_a_recipe_that_is_a_directory_names_it(tmp_path):
    with pytest.raises(RecipeError) as e:
        load_recipe(tmp_path)
    assert str(e.value) == f"{tmp_path}: is a directory; expected a recipe YAML file"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_an_empty_recipe_is_refused_with_what_to_do(tmp_path, text):
    with pytest.raises(RecipeError) as e:
        load_recipe(write(tmp_path, text))
    msg = str(e.value)
    assert msg.startswith(f"{tmp_path / 'r.yaml'}: the recipe is empty")
    assert "edgekd init" in msg


def test_an_explicit_empty_mapping_is_the_default_recipe(tmp_path):
    assert load_recipe(write(tmp_path, "{}\n")) == Recipe()


@pytest.mark.parametrize("name", ["digits", "my-run_2.v1", "A", "x" * 100])
def test_output_name_is_one_path_component(name):
    assert load_recipe(None, [f"output.name={name}"]).output.name == name


@pytest.mark.parametrize(
    "name", ["../../x", "/tmp/abs", "a/b", ".", "..", "", "a b", "x\\y", "~", "é", "x" * 201]
)
def test_output_name_that_is_not_one_safe_path_component_is_refused(name):
    with pytest.raises(RecipeError) as e:
        load_recipe(None, [f"output.name={name!r}"])
    msg = str(e.value)
    assert "output.name:" in msg and "one path component" in msg


def test_one_source_of_defaults_recipe_is_the_built_in_recipe():
    """``Recipe()`` (the Python API, an empty mapping) runs what ``edgekd compress`` and the
    file ``edgekd init`` writes run: every stage, on a phone, a board and an MCU."""
    import yaml

    from edgekd.profile.config import DEFAULT_TARGETS
    from edgekd.recipe.load import validate

    init_file = validate(yaml.safe_load(default_recipe_text()))
    assert load_recipe(None) == Recipe() == init_file
    assert Recipe.model_validate({"distill": {"temperature": 6}}).model_dump(
        exclude={"distill": {"temperature"}}
    ) == Recipe().model_dump(exclude={"distill": {"temperature"}})
    r = Recipe()
    assert r.prune.method != "none" and r.quantize.method != "none"
    assert r.export.formats == ["onnx", "tflite"]
    assert tuple(r.targets.names) == DEFAULT_TARGETS  # `edgekd profile` without --target too
