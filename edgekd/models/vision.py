"""torchvision and timm classifiers, built for the data: ``num_classes`` outputs and the
data's input channels, random weights (pretrained weights are loaded by
``edgekd.models.create``, only from local files).

torchvision and timm are imported through ``edgekd.backends.import_torchvision`` (PyPI's
torchvision ops cannot load beside the CPU build of torch; see there).
"""

from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekd.backends import import_torchvision
from edgekd.errors import RecipeError, require

if TYPE_CHECKING:
    from types import ModuleType

    from torch import nn

    from edgekd.models.spec import ModelSpec


def import_timm() -> ModuleType:
    """``import timm`` (it imports torchvision, so that goes through the workaround first)."""
    if importlib.util.find_spec("timm") is None:
        return require("timm", "vision")
    import_torchvision()
    return require("timm", "vision")


def torchvision_names() -> list[str]:
    """The classification models of ``torchvision.models``."""
    tv = import_torchvision()
    return sorted(tv.models.list_models(module=tv.models))


def timm_names() -> list[str]:
    return sorted(import_timm().list_models())


def unknown_name(source: str, name: str, known: list[str]) -> RecipeError:
    """The error for a model name the library does not have, with its close matches."""
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.6)
    if not close:
        close = [k for k in known if name.lower() in k.lower()][:5]
    hint = f"close matches: {', '.join(close)}" if close else f"{len(known)} names exist"
    return RecipeError(f"unknown {source} model {name!r}; {hint}")


def build_torchvision(spec: ModelSpec) -> nn.Module:
    """``torchvision.models.get_model(name, num_classes=K)`` with the data's input channels
    (and ``image_size`` for the models that take one, e.g. ViT)."""
    tv = import_torchvision()
    names = torchvision_names()
    if spec.name not in names:
        raise unknown_name("torchvision", spec.name, names)
    kwargs: dict[str, Any] = {"num_classes": spec.num_classes}
    if spec.name in ("googlenet", "inception_v3"):
        kwargs.update(aux_logits=False, init_weights=True)  # one output, a logits tensor
    builder = tv.models.get_model_builder(spec.name)
    model = _with_image_size(builder, kwargs, "image_size", spec)
    return adapt_input_channels(model, _channels(spec))


def build_timm(spec: ModelSpec) -> nn.Module:
    """``timm.create_model(name, num_classes=K, in_chans=C)`` (and ``img_size`` for models
    with a fixed input size, e.g. ViT)."""
    timm = import_timm()
    if not timm.is_model(spec.name):
        raise unknown_name("timm", spec.name, timm_names())
    kwargs = {"num_classes": spec.num_classes, "in_chans": _channels(spec), "pretrained": False}
    return _with_image_size(
        lambda **kw: timm.create_model(spec.name, **kw), kwargs, "img_size", spec
    )


def _channels(spec: ModelSpec) -> int:
    if len(spec.input_shape) != 3:
        raise RecipeError(
            f"{spec.label}: an image model needs (C, H, W) inputs; the data has shape "
            f"{tuple(spec.input_shape)}"
        )
    return int(spec.input_shape[0])


def _with_image_size(builder: Any, kwargs: dict[str, Any], key: str, spec: ModelSpec) -> Any:
    """Build with ``key=H`` when the model has a fixed input size and the data's differs."""
    h, w = spec.input_shape[-2], spec.input_shape[-1]
    try:
        return builder(**kwargs, **{key: h if h == w else (h, w)})
    except TypeError as exc:
        if key not in str(exc):
            raise
    return builder(**kwargs)


def adapt_input_channels(model: nn.Module, channels: int) -> nn.Module:
    """Replace the first 3-channel ``Conv2d`` with one taking ``channels`` inputs (same
    hyper-parameters, fresh weights; :func:`adapt_conv_weight` maps pretrained ones)."""
    from torch import nn

    if channels == 3:
        return model
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            if m.in_channels != 3 or m.groups != 1:
                break
            new = nn.Conv2d(
                channels, m.out_channels, m.kernel_size, m.stride,  # type: ignore[arg-type]
                m.padding, m.dilation, 1, m.bias is not None, m.padding_mode,  # type: ignore[arg-type]
            )  # fmt: skip
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, child, new)
            return model
    raise RecipeError(
        f"cannot adapt {type(model).__name__} to {channels} input channels: its first "
        "convolution does not take 3 channels"
    )


def adapt_conv_weight(weight: Any, channels: int) -> Any:
    """A pretrained first-conv weight (out, 3, k, k) for ``channels`` inputs, as timm's
    ``adapt_input_conv`` does: summed over RGB for one channel, else RGB repeated and scaled
    by 3 / channels so the activations keep their scale."""
    import math

    if channels == 1:
        return weight.sum(dim=1, keepdim=True)
    reps = math.ceil(channels / weight.shape[1])
    return weight.repeat(1, reps, 1, 1)[:, :channels] * (weight.shape[1] / channels)


def pretrained_state(spec: ModelSpec) -> dict[str, Any]:
    """The library's own pretrained weights for ``spec`` from its local cache only (never a
    download); a missing file says where it was looked for."""
    import os

    import torch

    if spec.source == "torchvision":
        tv = import_torchvision()
        if spec.name not in torchvision_names():
            raise unknown_name("torchvision", spec.name, torchvision_names())
        weights = tv.models.get_model_weights(spec.name).DEFAULT
        filename = os.path.basename(weights.url)
        path = Path(torch.hub.get_dir()) / "checkpoints" / filename
        if not path.is_file():
            raise RecipeError(
                f"pretrained: torchvision's {spec.name} weights are not in the local cache "
                f"({path}); edgekd never downloads: put {filename} there or give weights: PATH"
            )
        return torch.load(path, map_location="cpu", weights_only=True)
    from edgekd.backends import hub_offline

    timm = import_timm()
    if not timm.is_model(spec.name):
        raise unknown_name("timm", spec.name, timm_names())
    hub_offline()
    try:
        return timm.create_model(spec.name, pretrained=True).state_dict()
    except Exception as exc:
        raise RecipeError(
            f"pretrained: timm's {spec.name} weights are not in the local cache (Hugging Face "
            f"hub cache, offline); edgekd never downloads: give weights: PATH "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
