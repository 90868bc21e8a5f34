"""Load a teacher from any source the recipe names, behind one interface.

A teacher maps inputs to logits. Sources: a zoo model trained here (cached by recipe and
data hash), a state dict (safetensors, or a ``torch.save``'d ``.pt``) plus a zoo
architecture, a TorchScript or ``torch.export`` file, an ONNX file (run by onnxruntime) or a
scikit-learn estimator (skops, or joblib/pickle with ``trust: true`` since unpickling can
execute arbitrary code).
``torch.load`` is only ever called with ``weights_only=True``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekd.data.loaders import DataSplits
from edgekd.errors import ModelFileError, UsageError
from edgekd.fileio import sha256_bytes, sha256_file
from edgekd.models.config import TeacherConfig

PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")


@dataclass
class Teacher:
    """A loaded teacher. ``identity`` is a content hash used as the output-cache key."""

    kind: str
    identity: str
    path: Path | None
    predict_fn: Callable[[np.ndarray], np.ndarray]
    module: object | None = None  # the torch nn.Module when the teacher has internals
    params: int | None = None
    classes: list[str] | None = None  # the label set, when the file records it (scikit-learn)
    spec: Any = None  # the ModelSpec of a teacher built from a model source
    info: dict[str, Any] = field(default_factory=dict)  # how it was made (weights, trained)

    def predict(self, x: Any) -> np.ndarray:
        """Logits for ``x`` (normalized inputs, as every stage sees them)."""
        return np.asarray(self.predict_fn(x), dtype=np.float32)


def load_teacher_file(cfg: TeacherConfig, data: DataSplits) -> Teacher:
    """Load the teacher file named by ``cfg.path`` and check its class count against ``data``."""
    assert cfg.path is not None
    path = Path(cfg.path)
    if not path.is_file():
        raise ModelFileError(f"teacher.path: file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in TEACHER_KINDS:
        raise ModelFileError(
            f"teacher.path: {path}: unknown teacher format {suffix!r}; expected one of "
            + ", ".join(sorted(TEACHER_KINDS))
        )
    teacher = TEACHER_KINDS[suffix](path, cfg, data)
    if cfg.input == "raw":
        teacher = _with_raw_inputs(teacher, data)
    check_class_count(teacher, data)
    return teacher


def teacher_from_file(
    path: Path,
    cfg: TeacherConfig,
    data: DataSplits,
    spec: dict[str, Any] | None = None,
    kind: str = "file",
) -> Teacher:
    """The teacher in ``path`` (a run directory's copy): one edgekd built from a model source
    (``spec``: weights plus the spec to rebuild it; normalized inputs) or a file the recipe
    named (``cfg`` says how to read it). Its identity is the one it had when first made, so
    the caches keyed by it keep hitting."""
    if kind == "keras":
        from edgekd.teacher.keras import keras_teacher

        folder = path.parent if path.name == "saved_model.pb" else path
        return keras_teacher(folder, cfg, data, "teacher")
    if spec is None:
        return load_teacher_file(cfg.model_copy(update={"path": path}), data)
    from edgekd.models.load import load_model
    from edgekd.models.spec import ModelSpec

    model_spec = ModelSpec.from_dict(spec)
    teacher = torch_teacher(load_model(path, model_spec), kind, sha256_file(path), path)
    teacher.spec = model_spec
    return teacher


def check_class_count(teacher: Teacher, data: DataSplits) -> None:
    try:
        sample = data.for_teacher("val").take(2)
        out = teacher.predict(sample)
    except Exception as exc:
        raise ModelFileError(
            f"teacher {teacher.path}: failed on inputs of shape {data.teacher_input_shape}: {exc}"
        ) from None
    if out.ndim != 2 or out.shape[1] != data.num_classes:
        got = out.shape[1] if out.ndim == 2 else f"shape {out.shape}"
        raise ModelFileError(
            f"teacher {teacher.path}: outputs {got} classes but the data has {data.num_classes}"
        )


def _with_raw_inputs(teacher: Teacher, data: DataSplits) -> Teacher:
    """Undo edgekd's normalization before calling a teacher trained on raw features."""
    mean = np.asarray(data.preprocess["mean"], np.float32)
    std = np.asarray(data.preprocess["std"], np.float32)
    inner = teacher.predict_fn
    teacher.predict_fn = lambda x: inner((x * std + mean).astype(np.float32))
    teacher.identity = sha256_bytes(
        teacher.identity.encode(), b"raw", mean.tobytes(), std.tobytes()
    )
    return teacher


def torch_teacher(module, kind: str, identity: str, path: Path | None) -> Teacher:
    import torch

    from edgekd.train.loop import predict

    module.eval()
    params = sum(p.numel() for p in module.parameters()) if hasattr(module, "parameters") else None

    def run(x: np.ndarray) -> np.ndarray:
        if isinstance(module, torch.nn.Module):
            return predict(module, x)
        with torch.no_grad():
            return module(torch.from_numpy(x)).numpy()

    return Teacher(kind, identity, path, run, module=module, params=params)


def module_teacher(module: Any) -> Teacher:
    """An in-memory torch module as a teacher; its identity hashes its weights."""
    parts = [
        f"{k}{tuple(v.shape)}".encode() + v.detach().cpu().float().numpy().tobytes()
        for k, v in module.state_dict().items()
    ]
    identity = sha256_bytes(type(module).__name__.encode(), *parts)
    return torch_teacher(module, "module", identity, None)


def _load_state_dict(path: Path, cfg: TeacherConfig, data: DataSplits) -> Teacher:
    """A state dict (``.safetensors``, or a ``torch.save``'d ``.pt``) of a zoo model."""
    from edgekd.models.files import load_zoo_weights

    try:
        model = load_zoo_weights(
            path, cfg.arch, data.input_shape, data.num_classes, cfg.width, cfg.depth
        )
    except ModelFileError as exc:
        if "does not match" in str(exc):
            raise ModelFileError(
                f"{exc}; set teacher.arch/width/depth to the model it was saved from"
            ) from None
        raise
    identity = sha256_bytes(
        sha256_file(path).encode(), f"{cfg.arch}/{cfg.width}/{cfg.depth}".encode()
    )
    kind = "safetensors" if path.suffix.lower() == ".safetensors" else "state_dict"
    return torch_teacher(model, kind, identity, path)


def _load_torch_file(path: Path, cfg: TeacherConfig, data: DataSplits) -> Teacher:
    """``.pt``/``.pth``/``.pt2`` by content: TorchScript, a ``torch.export`` program, or a
    ``torch.save``'d state dict of ``teacher.arch``/``width``/``depth``."""
    from edgekd.models.files import TORCH_KINDS, torch_file_kind

    kind = torch_file_kind(path)
    if kind == "pickle":
        return _load_state_dict(path, cfg, data)
    if kind == "exported":
        return _load_exported(path, cfg, data)
    if kind == "unknown":
        raise ModelFileError(
            f"teacher.path: {path}: {TORCH_KINDS[kind]} (corrupt or truncated?); expected a "
            "TorchScript model, or a state dict with teacher.arch/width/depth"
        )
    return _load_torchscript(path, cfg, data)


def _load_torchscript(path: Path, cfg: TeacherConfig, data: DataSplits) -> Teacher:
    from edgekd.models.load import load_script

    return torch_teacher(load_script(path), "torchscript", sha256_file(path), path)


def _load_exported(path: Path, cfg: TeacherConfig, data: DataSplits) -> Teacher:
    """A ``torch.export`` program, run at any batch size; its layers are not addressable
    (feature methods need a state dict with ``teacher.arch``)."""
    from edgekd.models.load import exported_module
    from edgekd.train.loop import predict

    module = exported_module(path)
    params = sum(int(p.numel()) for p in module.parameters())
    return Teacher("exported", sha256_file(path), path, lambda x: predict(module, x), params=params)


def _load_onnx(path: Path, cfg: TeacherConfig, data: DataSplits) -> Teacher:
    from edgekd.runtime.onnx import OnnxRunner

    runner = OnnxRunner(path)
    return Teacher("onnx", sha256_file(path), path, runner.predict)


def _load_sklearn(path: Path, cfg: TeacherConfig, data: DataSplits) -> Teacher:
    if path.suffix.lower() in PICKLE_SUFFIXES:
        if not cfg.trust:
            raise UsageError(
                f"teacher.path: {path} is a pickle ({path.suffix}); unpickling can run arbitrary "
                "code, so edgekd loads it only with teacher.trust: true "
                "(or save the estimator with skops instead)"
            )
        import joblib

        try:
            est = joblib.load(path)
        except Exception as exc:
            raise ModelFileError(f"{path}: cannot unpickle the estimator: {exc}") from None
    else:
        import skops.io as sio

        try:
            untrusted = sio.get_untrusted_types(file=path)
            if untrusted and not cfg.trust:
                raise UsageError(
                    f"teacher.path: {path} contains types skops does not trust by default "
                    f"({', '.join(untrusted)}); set teacher.trust: true if you trust the file"
                )
            est = sio.load(path, trusted=untrusted)
        except UsageError:
            raise
        except Exception as exc:
            raise ModelFileError(f"{path}: not a readable skops file: {exc}") from None
    if not hasattr(est, "predict_proba"):
        raise ModelFileError(f"{path}: the estimator has no predict_proba; a teacher needs scores")

    def run(x: np.ndarray) -> np.ndarray:
        probs = est.predict_proba(x.reshape(len(x), -1))
        return np.log(np.clip(probs, 1e-7, 1.0))  # log-probabilities serve as logits

    classes = [str(c) for c in est.classes_] if hasattr(est, "classes_") else None
    return Teacher("sklearn", sha256_file(path), path, run, classes=classes)


# file suffix -> loader (path, teacher config, data) -> Teacher: every kind of teacher file
# `teacher.path` accepts. To add one, write its loader and add its suffix here.
TEACHER_KINDS: dict[str, Callable[[Path, TeacherConfig, DataSplits], Teacher]] = {
    ".safetensors": _load_state_dict,
    ".pt": _load_torch_file,
    ".pth": _load_torch_file,
    ".pt2": _load_torch_file,
    ".onnx": _load_onnx,
    ".skops": _load_sklearn,
    ".joblib": _load_sklearn,
    ".pkl": _load_sklearn,
    ".pickle": _load_sklearn,
}
