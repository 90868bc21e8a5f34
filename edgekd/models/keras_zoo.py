"""Keras students that mirror the zoo (``edgekd.models.zoo``): ``keras:cnn`` and
``keras:mlp``, sized by ``student.width``/``depth``, built with Keras 2 (``tf_keras``) so
TensorFlow Model Optimization can wrap every layer.

They take edgekd's inputs as they are (images channels-first, as the torch students): the
CNN's first layer is a ``Permute`` to channels-last, so its ``.tflite`` file has the same
input shape as a torch student's and every later pass (evaluate, profile, the TFLite Micro
hop) reads it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgekd.errors import RecipeError

# torch's BatchNorm momentum 0.1 (new-statistic weight) is Keras's 0.9 (old-statistic
# weight); Keras's default 0.99 leaves the running statistics far from the data after the few
# epochs digits needs, and the eval-mode student far below its training accuracy
BN_MOMENTUM = 0.9


def cnn(keras: Any, input_shape: tuple[int, ...], num_classes: int, width: int, depth: int) -> Any:
    """Conv3x3-BN-ReLU blocks, doubling channels each block and halving space while >= 4,
    then global average pooling and a dense classifier (the zoo's ``cnn``)."""
    if len(input_shape) != 3:
        raise RecipeError(
            f"student.model: keras:cnn needs image inputs (C, H, W); the data has shape "
            f"{input_shape}; use keras:mlp"
        )
    L = keras.layers
    size = min(input_shape[1:])
    layers: list[Any] = [L.Input(input_shape, name="input"), L.Permute((2, 3, 1), name="nhwc")]
    for i in range(depth):
        out = width * 2 ** min(i, 3)
        layers += [
            L.Conv2D(out, 3, padding="same", use_bias=False, name=f"block{i}_conv"),
            L.BatchNormalization(momentum=BN_MOMENTUM, name=f"block{i}_bn"),
            L.ReLU(name=f"block{i}_act"),
        ]
        if size >= 4 and (i < depth - 1 or depth == 1):
            layers.append(L.MaxPooling2D(2, name=f"block{i}_pool"))
            size //= 2
    layers += [L.GlobalAveragePooling2D(name="pool"), L.Dense(num_classes, name="classifier")]
    return keras.Sequential(layers, name="keras_cnn")


def mlp(keras: Any, input_shape: tuple[int, ...], num_classes: int, width: int, depth: int) -> Any:
    """Flatten, then ``depth`` Dense-BN-ReLU layers of ``width`` units, then a dense head."""
    L = keras.layers
    layers: list[Any] = [L.Input(input_shape, name="input"), L.Flatten(name="flatten")]
    for i in range(depth):
        layers += [
            L.Dense(width, name=f"block{i}_fc"),
            L.BatchNormalization(momentum=BN_MOMENTUM, name=f"block{i}_bn"),
            L.ReLU(name=f"block{i}_act"),
        ]
    layers.append(L.Dense(num_classes, name="classifier"))
    return keras.Sequential(layers, name="keras_mlp")


KERAS_ZOO: dict[str, Callable[[Any, tuple[int, ...], int, int, int], Any]] = {
    "cnn": cnn,
    "mlp": mlp,
}


def build_keras(
    name: str, input_shape: tuple[int, ...], num_classes: int, width: int, depth: int, seed: int
) -> Any:
    """A fresh Keras student of the family ``name`` (weights seeded by ``seed``)."""
    from edgekd.backends import import_tensorflow

    tf, keras = import_tensorflow()
    keras.utils.set_random_seed(seed)
    return KERAS_ZOO[name](keras, tuple(input_shape), num_classes, width, depth)


def keras_macs(model: Any) -> int:
    """Multiply-accumulates of one sample through the Conv2D and Dense layers (TFMOT's
    pruning and QAT wrappers are looked through), from their output shapes."""
    total = 0
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)  # PruneLowMagnitude / QuantizeWrapper
        kind = type(inner).__name__
        if kind not in ("Conv2D", "Dense", "DepthwiseConv2D"):
            continue
        out = layer.output_shape
        positions = 1
        for d in out[1:-1]:
            positions *= int(d)
        kernel = inner.kernel if kind != "DepthwiseConv2D" else inner.depthwise_kernel
        k = 1
        for d in kernel.shape[:-1]:
            k *= int(d)
        total += positions * k * int(kernel.shape[-1])
    return total
