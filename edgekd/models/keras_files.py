"""Keras model files: ``.keras`` (Keras 2 or 3), ``.h5`` and SavedModel directories.

A file is read by the Keras that wrote it: a ``.keras`` zip records ``keras_version`` in its
``metadata.json``; Keras 3 files load with Keras 3 (fine for a teacher, which only predicts),
everything else with Keras 2 (``tf_keras``, what TFMOT wraps). A SavedModel directory that
is not a Keras model runs through its ``serving_default`` signature. A file that does not
load is a ``ModelFileError`` naming it (exit 2).
"""

from __future__ import annotations

import json
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekd.errors import ModelFileError

if TYPE_CHECKING:
    import numpy as np

SUFFIXES = (".keras", ".h5", ".hdf5")


def keras_version(path: Path) -> str | None:
    """The Keras version a ``.keras`` zip was saved by (None for other files)."""
    if path.suffix.lower() != ".keras" or not zipfile.is_zipfile(path):
        return None
    try:
        with zipfile.ZipFile(path) as z:
            return str(json.loads(z.read("metadata.json")).get("keras_version", ""))
    except (KeyError, ValueError, OSError):
        return None


def check_path(path: Path) -> None:
    """``path`` is a Keras file or a SavedModel directory, else a ``ModelFileError``."""
    if path.is_dir():
        if not (path / "saved_model.pb").is_file():
            raise ModelFileError(f"{path}: a directory without saved_model.pb")
        return
    if not path.is_file():
        raise ModelFileError(f"{path}: file not found")
    if path.suffix.lower() not in SUFFIXES:
        raise ModelFileError(
            f"{path}: expected a Keras model ({', '.join(SUFFIXES)}) or a SavedModel directory"
        )


def load_keras(path: Path, where: str, keras2_only: bool = False) -> Any:
    """The Keras model in ``path`` (not compiled). ``keras2_only``: a Keras 3 file is refused
    (TFMOT cannot wrap Keras 3 models)."""
    from edgekd.backends import import_keras3, import_tensorflow

    try:
        check_path(path)
    except ModelFileError as exc:
        raise ModelFileError(f"{where}: {exc}") from None
    tf, keras = import_tensorflow()
    version = keras_version(path)
    if version and version.startswith("3."):
        if keras2_only:
            raise ModelFileError(
                f"{where}: {path} was saved by Keras {version}; TensorFlow Model Optimization "
                "wraps Keras 2 models only: build and save it with tf_keras (import tf_keras "
                "as keras) instead"
            )
        loader: Callable[..., Any] = import_keras3().models.load_model
    else:
        loader = keras.models.load_model
    try:
        return loader(str(path), compile=False)
    except Exception as exc:
        if path.is_dir() and not keras2_only:
            return _saved_model(tf, path, where)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(
            f"{where}: {path}: not a loadable Keras model ({type(exc).__name__}: {first[:200]})"
        ) from None


class _Signature:
    """A non-Keras SavedModel's ``serving_default`` signature, called like a model."""

    def __init__(self, fn: Any, path: Path) -> None:
        self.fn = fn
        (spec,) = fn.structured_input_signature[1].values()
        self.input_name = next(iter(fn.structured_input_signature[1]))
        self.input_shape = tuple(spec.shape)
        self.path = path

    def predict(self, x: np.ndarray, batch_size: int = 256, verbose: int = 0) -> np.ndarray:
        import numpy as np

        outs = []
        for i in range(0, len(x), batch_size):
            got = self.fn(**{self.input_name: x[i : i + batch_size]})
            outs.append(np.asarray(next(iter(got.values()))))
        return np.concatenate(outs)

    def count_params(self) -> None:
        return None


def _saved_model(tf: Any, path: Path, where: str) -> _Signature:
    try:
        loaded = tf.saved_model.load(str(path))
        return _Signature(loaded.signatures["serving_default"], path)
    except Exception as exc:
        raise ModelFileError(
            f"{where}: {path}: not a loadable SavedModel with a one-input serving_default "
            f"signature ({type(exc).__name__}: {str(exc).strip()[:200]})"
        ) from None


def input_adapter(
    model_shape: tuple[Any, ...], data_shape: tuple[int, ...], where: str
) -> Callable[[np.ndarray], np.ndarray]:
    """How to feed edgekd's inputs (``data_shape`` per sample, images channels-first) to a
    model that takes ``model_shape`` (no batch): as they are, channels-last (a Keras image
    model's usual layout), or a ``ModelFileError`` naming both shapes."""
    import numpy as np

    want = tuple(model_shape)
    if _fits(want, tuple(data_shape)):
        return lambda x: x
    if len(data_shape) == 3 and _fits(want, _last(data_shape)):
        return lambda x: np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1)))
    raise ModelFileError(
        f"{where}: the Keras model takes inputs of shape {_shape(want)}; the data has "
        f"{_shape(data_shape)} (or {_shape(_last(data_shape))} channels-last)"
    )


def model_input_shape(model: Any) -> tuple[Any, ...]:
    """One sample's input shape (no batch dimension)."""
    shape = model.input_shape
    if isinstance(shape, list):
        raise ModelFileError("a Keras model with several inputs; edgekd feeds one input")
    return tuple(shape[1:])


def _fits(want: tuple[Any, ...], have: tuple[int, ...]) -> bool:
    """``have`` matches ``want`` where ``want`` is fixed (None: any size)."""
    return len(want) == len(have) and all(w in (None, h) for w, h in zip(want, have, strict=True))


def _last(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (*shape[1:], shape[0]) if len(shape) == 3 else shape


def _shape(shape: tuple[Any, ...]) -> str:
    return "(" + ", ".join("N" if d is None else str(d) for d in shape) + ")"


def save_keras(model: Any, path: Path) -> None:
    """``model`` as a ``.keras`` (or ``.h5``: TFMOT's QAT wrappers do not survive a
    ``.keras`` round trip in tf_keras 2.21) file, written to a temporary name and renamed."""
    from edgekd.fileio import atomic_save

    def write(tmp: Path) -> None:
        keras_tmp = tmp.with_name(tmp.name + path.suffix)  # Keras picks the format by suffix
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "You are saving your model as an HDF5 file")
            model.save(str(keras_tmp))
        keras_tmp.replace(tmp)

    atomic_save(path, write)


def load_student(path: Path) -> Any:
    """A Keras student a pass wrote (``save_keras``); QAT models need TFMOT's scope to load."""
    from edgekd.backends import import_tfmot

    with import_tfmot().quantization.keras.quantize_scope():
        return load_keras(path, "run artifact", keras2_only=True)
