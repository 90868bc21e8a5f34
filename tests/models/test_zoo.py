"""The zoo builds named, hookable models; weight files round-trip and mismatches name the file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgekd.errors import ModelFileError, RecipeError
from edgekd.models.files import load_zoo_weights, save_weights
from edgekd.models.zoo import build_model, count_params, torch_macs


def test_cnn_layers_are_addressable_by_path_and_macs_are_counted():
    model = build_model("cnn", (1, 8, 8), 10, 4, 2)
    names = dict(model.named_modules())
    assert {"features.block0.conv", "features.block1.bn", "classifier"} <= set(names)
    # conv0: 4 out x 8x8 x 9, conv1: 8 out x 4x4 x (4 x 9), classifier 8 x 10
    assert torch_macs(model, (1, 8, 8)) == 4 * 64 * 9 + 8 * 16 * 36 + 80
    assert count_params(model) == sum(p.numel() for p in model.parameters())


def test_unknown_arch_and_wrong_input_rank_are_recipe_errors():
    with pytest.raises(RecipeError, match="the zoo has: cnn, mlp"):
        build_model("resnet", (1, 8, 8), 10, 4, 2)
    with pytest.raises(RecipeError, match="use arch 'mlp'"):
        build_model("cnn", (30,), 2, 4, 2)


def test_weights_round_trip_and_a_mismatch_names_file_and_arch(tmp_path):
    torch.manual_seed(0)
    model = build_model("mlp", (6,), 3, 5, 2).eval()
    path = tmp_path / "m.safetensors"
    save_weights(model, path)
    again = load_zoo_weights(path, "mlp", (6,), 3, 5, 2)
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32))
    with torch.no_grad():
        assert torch.equal(again(x), model(x))
    with pytest.raises(ModelFileError, match=r"m\.safetensors: does not match zoo arch 'mlp'"):
        load_zoo_weights(path, "mlp", (6,), 3, 7, 2)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ModelFileError, match="not a readable safetensors file"):
        load_zoo_weights(path, "mlp", (6,), 3, 5, 2)
