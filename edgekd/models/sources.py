"""Where models come from: ``MODEL_SOURCES`` maps the source of a recipe's ``model:`` string
(``SOURCE:NAME``) to the function that builds the architecture from a
:class:`~edgekd.models.spec.ModelSpec`.

| source | NAME | built by |
|---|---|---|
| ``zoo`` | ``cnn``, ``mlp`` (sized by ``width``/``depth``) | ``edgekd.models.zoo`` |
| ``torchvision`` | a ``torchvision.models`` name (``resnet18``...) | ``edgekd.models.vision`` |
| ``timm`` | a ``timm`` model name (``mobilenetv3_small_050``...) | ``edgekd.models.vision`` |
| ``hf`` | a local Hugging Face model directory | ``edgekd.models.hf`` |
| ``module`` | ``FILE.py:FUNC``, a user's factory (``trust_code``) | ``models.user_module`` |
| ``keras`` | a ``.keras``/``.h5`` file or SavedModel; ``cnn``, ``mlp`` | ``models.keras_zoo`` |

``keras`` models are not torch modules: a Keras teacher is run by TensorFlow
(``edgekd.teacher.keras``) and a Keras student takes the Keras plan (``pipeline.keras``);
its builder here only says so when a torch module is asked of it.

Builders make random weights; pretrained weights are loaded afterwards
(``edgekd.models.create``), so a spec rebuilds any artifact's architecture. To add a source,
write its builder ``(spec) -> nn.Module`` in its own module and add it here. Heavy libraries
are imported inside the builders, so reading the names costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from edgekd.errors import RecipeError

if TYPE_CHECKING:
    from torch import nn

    from edgekd.models.spec import ModelSpec


def zoo(spec: ModelSpec) -> nn.Module:
    from edgekd.models.zoo import build_model

    return build_model(spec.name, spec.input_shape, spec.num_classes, spec.width, spec.depth)


def torchvision(spec: ModelSpec) -> nn.Module:
    from edgekd.models.vision import build_torchvision

    return build_torchvision(spec)


def timm(spec: ModelSpec) -> nn.Module:
    from edgekd.models.vision import build_timm

    return build_timm(spec)


def hf(spec: ModelSpec) -> nn.Module:
    from edgekd.models.hf import build_hf

    return build_hf(spec)


def module(spec: ModelSpec) -> nn.Module:
    from edgekd.models.user_module import build_user_module

    return build_user_module(spec)


def keras(spec: ModelSpec) -> nn.Module:
    raise RecipeError(
        f"keras:{spec.name} is a Keras model: it runs in TensorFlow, not as a torch module "
        "(Keras teachers fill the teacher-output cache; a Keras student takes the Keras path)"
    )


MODEL_SOURCES: dict[str, Callable[[ModelSpec], nn.Module]] = {
    "zoo": zoo,
    "torchvision": torchvision,
    "timm": timm,
    "hf": hf,
    "module": module,
    "keras": keras,
}


def split_model(text: str) -> tuple[str, str]:
    """``"torchvision:resnet18"`` -> ``("torchvision", "resnet18")``; a string without a known
    source prefix is a ``RecipeError`` listing the sources."""
    source, sep, name = text.partition(":")
    if not sep or source not in MODEL_SOURCES or not name.strip():
        raise RecipeError(
            f"{text!r}: expected SOURCE:NAME with SOURCE one of {', '.join(MODEL_SOURCES)} "
            "(e.g. zoo:cnn, torchvision:resnet18, timm:mobilenetv3_small_050, hf:DIR, "
            "module:FILE.py:FUNC, keras:FILE.keras, keras:cnn)"
        )
    if source == "module" and ":" not in name:
        raise RecipeError(f"{text!r}: expected module:FILE.py:FUNC (the factory's name after ':')")
    return source, name.strip()
