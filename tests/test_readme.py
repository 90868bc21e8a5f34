"""The README stays true: every recipe snippet in it validates as written."""

import re
from pathlib import Path

import pytest

from edgekd.recipe.load import load_recipe

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S)


def test_readme_has_recipe_snippets():
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize("i", range(len(BLOCKS)))
def test_readme_recipe_snippet_validates(tmp_path, i):
    (tmp_path / "gb.skops").write_bytes(b"")  # the tabular snippet names a local file
    path = tmp_path / "recipe.yaml"
    path.write_text(BLOCKS[i])
    recipe = load_recipe(path)
    assert recipe.distill.method in BLOCKS[i] or recipe.distill.method == "kd"
