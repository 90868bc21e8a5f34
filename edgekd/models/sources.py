"""Where models come from: ``MODEL_SOURCES`` maps a source name to the function that builds
a module from a :class:`~edgekd.models.load.ModelSpec`.

Today there is the zoo (``edgekd.models.zoo``: small CNN and MLP families sized by width and
depth). To add a source (torchvision, timm, a user module...), write its builder
``(spec) -> nn.Module`` in its own module and add it here. torch is imported inside the
builders, so reading the names costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

    from edgekd.models.load import ModelSpec


def zoo(spec: ModelSpec) -> nn.Module:
    from edgekd.models.zoo import build_model

    return build_model(spec.name, spec.input_shape, spec.num_classes, spec.width, spec.depth)


MODEL_SOURCES: dict[str, Callable[[ModelSpec], nn.Module]] = {"zoo": zoo}
