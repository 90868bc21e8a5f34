"""Models travel between passes as files plus a spec; a pruned one comes back with real layers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgekd.errors import ModelFileError
from edgekd.models.files import save_exported, save_weights
from edgekd.models.load import Program, load_model
from edgekd.models.spec import ModelSpec
from edgekd.models.zoo import build_model


def _x(n: int = 5) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, 1, 8, 8)).astype(np.float32)


def _out(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(torch.from_numpy(x)).numpy()


def test_a_narrower_pt2_loads_into_real_trainable_layers(tmp_path):
    torch.manual_seed(0)
    narrow = build_model("cnn", (1, 8, 8), 10, 6, 2).eval()  # as if 2 of 8 channels were pruned
    path = tmp_path / "pruned.pt2"
    save_exported(narrow, _x(2), path)
    spec = ModelSpec("zoo", "cnn", (1, 8, 8), 10, width=8, depth=2, resized=True)
    model = load_model(path, spec)
    conv = model.get_submodule("features.block0.conv")
    assert isinstance(conv, torch.nn.Conv2d) and conv.out_channels == 6
    np.testing.assert_allclose(_out(model, _x()), _out(narrow, _x()), rtol=1e-5, atol=1e-6)
    assert all(p.requires_grad for p in model.parameters())  # QAT can fine-tune it
    # without a spec the program runs as it was exported, at any batch size
    frozen = load_model(path)
    assert isinstance(frozen, Program)
    np.testing.assert_allclose(_out(frozen, _x(3)), _out(narrow, _x(3)), rtol=1e-5, atol=1e-6)


def test_weights_need_a_spec_and_must_fit_it(tmp_path):
    model = build_model("mlp", (6,), 3, 4, 1)
    path = tmp_path / "m.safetensors"
    save_weights(model, path)
    with pytest.raises(ModelFileError, match="needs a model spec"):
        load_model(path)
    with pytest.raises(ModelFileError, match="does not match zoo arch .mlp."):
        load_model(path, ModelSpec("zoo", "mlp", (6,), 3, 5, 1))
    spec = ModelSpec("zoo", "mlp", (6,), 3, 4, 1)
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    assert load_model(path, spec).classifier.out_features == 3
