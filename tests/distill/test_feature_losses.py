"""Feature-based losses (FitNets, attention transfer), adapters and forward hooks."""

import pytest
import torch
import torch.nn.functional as F

from edgekd.distill.feature_losses import (
    AttentionTransferLoss,
    HintLoss,
    attention_map,
    make_adapter,
)
from edgekd.distill.hooks import FeatureHooks, resolve_module
from edgekd.errors import RecipeError
from edgekd.models.zoo import build_model


@pytest.fixture
def maps():
    g = torch.Generator().manual_seed(0)
    return torch.randn(4, 3, 4, 4, generator=g), torch.randn(4, 5, 2, 2, generator=g)


def test_hint_loss_golden_and_matches_formula(maps):
    fs, ft = maps
    torch.manual_seed(0)
    loss = HintLoss(make_adapter((3, 4, 4), (5, 2, 2)))
    value = loss(fs, ft)
    ref = ((F.adaptive_avg_pool2d(loss.adapter[0](fs), 2) - ft) ** 2).mean()
    assert torch.allclose(value, ref)
    assert float(value.detach()) == pytest.approx(0.766277, abs=2e-6)  # golden, seeds 0


def test_hint_loss_trains_its_adapter(maps):
    fs, ft = maps
    torch.manual_seed(0)
    loss = HintLoss(make_adapter((3, 4, 4), (5, 2, 2)))
    loss(fs, ft).backward()
    assert loss.adapter[0].weight.grad is not None


def test_adapters_bridge_shapes():
    assert isinstance(make_adapter((16,), (128,)), torch.nn.Linear)
    conv = make_adapter((8, 4, 4), (32, 4, 4))
    assert conv(torch.zeros(2, 8, 4, 4)).shape == (2, 32, 4, 4)
    with pytest.raises(ValueError, match="cannot bridge"):
        make_adapter((8, 4, 4), (32,))


def test_attention_transfer_golden_and_matches_formula(maps):
    fs, ft = maps
    value = AttentionTransferLoss()(fs, ft)
    qs = F.normalize(F.adaptive_avg_pool2d(fs, 2).pow(2).sum(1).flatten(1), dim=1)
    qt = F.normalize(ft.pow(2).sum(1).flatten(1), dim=1)
    assert torch.allclose(value, ((qs - qt) ** 2).sum(1).mean(), atol=1e-7)
    assert float(value) == pytest.approx(4 * 0.0663087, abs=1e-6)  # golden, seed 0


def test_attention_is_zero_for_rescaled_maps(maps):
    fs, _ = maps
    assert float(AttentionTransferLoss()(fs, 3 * fs)) == pytest.approx(0.0, abs=1e-7)
    assert attention_map(fs).norm(dim=1).allclose(torch.ones(4))


def test_attention_rejects_vectors():
    with pytest.raises(ValueError, match="conv feature maps"):
        AttentionTransferLoss()(torch.zeros(2, 4), torch.zeros(2, 4))


def test_hooks_capture_by_path_and_are_removed():
    model = build_model("cnn", (1, 8, 8), 10, 4, 2)
    with FeatureHooks(model, ["features.block0", "flatten"]) as hooks:
        model(torch.zeros(2, 1, 8, 8))
        assert hooks.features["features.block0"].shape == (2, 4, 4, 4)
        assert hooks.features["flatten"].shape == (2, 8)
    assert not model.features.block0._forward_hooks


def test_unknown_layer_lists_close_matches():
    model = build_model("cnn", (1, 8, 8), 10, 4, 2)
    with pytest.raises(RecipeError) as exc:
        resolve_module(model, "features.blok1", "distill.fitnets.hints[0].student")
    msg = str(exc.value)
    assert exc.value.exit_code == 2
    assert "distill.fitnets.hints[0].student" in msg
    assert "did you mean features.block1" in msg
