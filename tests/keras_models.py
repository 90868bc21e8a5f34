"""Keras models for tests: tiny tf_keras models trained here on digits (no downloads); the
``keras_teacher_file`` fixture in ``tests/conftest.py`` makes one per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def digits_raw() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as raw pixels (0..16), channels-last (N, 8, 8, 1)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images.astype(np.float32)[..., None], d.target.astype(np.int64)


def keras_teacher_file(folder: Path) -> Path:
    """A Keras digits classifier as a user saves one: channels-last raw pixels in, softmax
    out, saved as ``.keras`` by Keras 2 (tf_keras)."""
    from edgekd.backends import import_tensorflow

    _, keras = import_tensorflow()
    x, y = digits_raw()
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.layers.Input((8, 8, 1)),
            keras.layers.Rescaling(1 / 16),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=5, batch_size=32, verbose=0)
    path = folder / "teacher.keras"
    model.save(path)
    return path


def save_keras_student(path: Path, layer_norm: bool = False) -> Path:
    """An untrained Keras 2 student for digits in edgekd's layout (1, 8, 8); with
    ``layer_norm`` it has a LayerNormalization, which TFMOT's 8-bit QAT scheme cannot wrap."""
    from edgekd.backends import import_tensorflow

    _, keras = import_tensorflow()
    keras.utils.set_random_seed(0)
    layers = [keras.layers.Input((1, 8, 8)), keras.layers.Flatten(name="flatten")]
    if layer_norm:
        layers.append(keras.layers.LayerNormalization(name="norm"))
    layers.append(keras.layers.Dense(10, name="classifier"))
    keras.Sequential(layers).save(path)
    return path
