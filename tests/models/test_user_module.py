"""``module:FILE.py:FUNC``: a user's factory, imported only with ``trust_code: true``."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from edgekd.errors import RecipeError, UsageError
from edgekd.models.config import StudentConfig
from edgekd.models.create import create_model

FACTORY = """
import torch
from torch import nn

calls = []

def build(num_classes, input_shape):
    calls.append((num_classes, input_shape))
    c = input_shape[0]
    pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return nn.Sequential(nn.Conv2d(c, 4, 3), pool, nn.Linear(4, num_classes))

def broken(num_classes):
    raise ValueError("no such size")

def not_a_module():
    return 42
"""


@pytest.fixture
def factory(tmp_path):
    path = tmp_path / "my_net.py"
    path.write_text(FACTORY)
    return path


def test_the_factory_gets_the_data_shape_and_classes(factory):
    made = create_model(
        StudentConfig(model=f"module:{factory}:build", trust_code=True), "student", (2, 8, 8), 6
    )
    assert made.model(torch.zeros(3, 2, 8, 8)).shape == (3, 6)
    assert made.spec.options["trust_code"] is True


def test_without_trust_code_the_recipe_says_so(factory):
    with pytest.raises(
        ValidationError, match="imports and runs the Python code .* trust_code: true"
    ):
        StudentConfig(model=f"module:{factory}:build")


def test_bad_factories_are_named(factory):
    def make(func: str):
        cfg = StudentConfig(model=f"module:{factory}:{func}", trust_code=True)
        return create_model(cfg, "student", (2, 8, 8), 6)

    with pytest.raises(RecipeError, match=r"defines no function 'nope' \(callables there: .*build"):
        make("nope")
    with pytest.raises(
        UsageError, match=r"broken\(num_classes=6\) raised ValueError: no such size"
    ):
        make("broken")
    with pytest.raises(UsageError, match="returned int, expected an nn.Module"):
        make("not_a_module")
