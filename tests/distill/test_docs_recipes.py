"""Every recipe snippet in docs/kd_methods.md validates as written."""

import re
from pathlib import Path

import pytest

from edgekd.recipe.load import load_recipe

DOC = Path(__file__).resolve().parents[2] / "docs" / "kd_methods.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S) if DOC.is_file() else []


@pytest.mark.skipif(not BLOCKS, reason="docs/kd_methods.md not present")
@pytest.mark.parametrize("i", range(len(BLOCKS)))
def test_doc_recipe_validates(tmp_path, i):
    (tmp_path / "gb.skops").write_bytes(b"")  # the tabular snippet names a local file
    path = tmp_path / "recipe.yaml"
    path.write_text(BLOCKS[i])
    recipe = load_recipe(path)
    assert recipe.distill.method in BLOCKS[i] or recipe.distill.method == "kd"
