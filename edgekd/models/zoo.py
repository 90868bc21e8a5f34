"""The model zoo: small CNN and MLP families parameterized by width and depth.

Modules are named (``features.block0.conv``, ``classifier``...) so that hooks and feature-based
distillation can address layers by path. To add a family, write a builder with the signature
``(input_shape, num_classes, width, depth) -> nn.Module`` and add it to ``ZOO``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn

from edgekd.errors import RecipeError


def cnn(input_shape: tuple[int, ...], num_classes: int, width: int, depth: int) -> nn.Module:
    """Conv3x3-BN-ReLU blocks, doubling channels each block and halving space while >= 4,
    then global average pooling and a linear classifier. Expects (C, H, W) inputs."""
    if len(input_shape) != 3:
        raise RecipeError(
            f"arch 'cnn' needs image inputs (C, H, W); the data has shape {input_shape}; "
            "use arch 'mlp'"
        )
    channels, size = input_shape[0], min(input_shape[1:])
    blocks: OrderedDict[str, nn.Module] = OrderedDict()
    for i in range(depth):
        out = width * 2 ** min(i, 3)
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            conv=nn.Conv2d(channels, out, 3, padding=1, bias=False),
            bn=nn.BatchNorm2d(out),
            act=nn.ReLU(),
        )
        if size >= 4 and (i < depth - 1 or depth == 1):
            layers["pool"] = nn.MaxPool2d(2)
            size //= 2
        blocks[f"block{i}"] = nn.Sequential(layers)
        channels = out
    return nn.Sequential(
        OrderedDict(
            features=nn.Sequential(blocks),
            pool=nn.AdaptiveAvgPool2d(1),
            flatten=nn.Flatten(),
            classifier=nn.Linear(channels, num_classes),
        )
    )


def mlp(input_shape: tuple[int, ...], num_classes: int, width: int, depth: int) -> nn.Module:
    """Flatten, then ``depth`` Linear-BN-ReLU layers of ``width`` units, then a linear head."""
    features = 1
    for d in input_shape:
        features *= d
    blocks: OrderedDict[str, nn.Module] = OrderedDict()
    for i in range(depth):
        blocks[f"block{i}"] = nn.Sequential(
            OrderedDict(fc=nn.Linear(features, width), bn=nn.BatchNorm1d(width), act=nn.ReLU())
        )
        features = width
    return nn.Sequential(
        OrderedDict(
            flatten=nn.Flatten(),
            features=nn.Sequential(blocks),
            classifier=nn.Linear(features, num_classes),
        )
    )


ZOO: dict[str, Callable[[tuple[int, ...], int, int, int], nn.Module]] = {"cnn": cnn, "mlp": mlp}


def build_model(
    arch: str, input_shape: tuple[int, ...], num_classes: int, width: int, depth: int
) -> nn.Module:
    """Build a zoo model; an unknown ``arch`` names the valid ones."""
    if arch not in ZOO:
        raise RecipeError(f"unknown arch {arch!r}; the zoo has: {', '.join(sorted(ZOO))}")
    return ZOO[arch](tuple(input_shape), num_classes, width, depth)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def torch_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one sample through Conv2d and Linear layers (forward hooks)."""
    total = 0

    def conv_hook(m: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(m, nn.Conv2d)
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        total += int(out[0].numel()) * k

    def linear_hook(m: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(m, nn.Linear)
        total += int(out[0].numel()) * m.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    text = getattr(model, "task", None) == "text"  # token ids in (edgekd.models.hf_module)
    with torch.no_grad():
        model(torch.zeros(1, *input_shape, dtype=torch.long if text else torch.float32))
    model.train(was_training)
    for h in handles:
        h.remove()
    return total
