"""``hf:DIR``: a Hugging Face ``transformers`` classifier from a local model directory.

The directory's ``config.json`` decides the task: an image classifier
(``AutoModelForImageClassification``, input ``pixel_values``) or a text classifier
(``AutoModelForSequenceClassification``, inputs ``input_ids`` and ``attention_mask``). A
base model (``BertModel``, a sentence-embedding checkpoint) gets a new classification head
for the data's classes. The tokenizer or image processor comes from the same directory.
Nothing is ever downloaded: edgekd sets ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``
before loading.

Models are wrapped in :class:`~edgekd.models.hf_module.HFClassifier` so that, like every
edgekd model, calling one returns the logits tensor; its layers are addressed as
``model.<transformers path>`` (``model.bert.encoder.layer.1``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from edgekd.backends import import_transformers
from edgekd.errors import ModelFileError

if TYPE_CHECKING:
    from types import ModuleType

    from torch import nn

    from edgekd.models.spec import ModelSpec

Task = Literal["image", "text"]
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def check_dir(path: str | Path) -> Path:
    """A Hugging Face model directory (it has ``config.json``), or a ``ModelFileError``."""
    p = Path(path)
    if not p.is_dir():
        raise ModelFileError(f"hf:{path}: no such directory (expected a model directory)")
    if not (p / "config.json").is_file():
        raise ModelFileError(
            f"hf:{path}: the directory has no config.json (expected a Hugging Face model "
            "directory written by save_pretrained)"
        )
    return p


def has_weights(path: Path) -> bool:
    return any((path / f).is_file() for f in WEIGHT_FILES)


def task_of(path: Path) -> Task:
    """``image`` or ``text``, from the config's architectures, else its model type."""
    cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    for arch in cfg.get("architectures") or []:
        if arch.endswith("ForImageClassification"):
            return "image"
        if arch.endswith("ForSequenceClassification"):
            return "text"
    from transformers.models.auto import modeling_auto as auto

    model_type = cfg.get("model_type", "")
    if model_type in auto.MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES:
        return "image"
    if model_type in auto.MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES:
        return "text"
    raise ModelFileError(
        f"hf:{path}: model type {model_type!r} has neither an image nor a sequence "
        "classification head in transformers"
    )


def _wrap(model: nn.Module, task: Task, interpolate: bool) -> nn.Module:
    from edgekd.models.hf_module import HFClassifier

    return HFClassifier(model, task, interpolate)


def _auto_class(transformers: ModuleType, task: Task) -> Any:
    if task == "image":
        return transformers.AutoModelForImageClassification
    return transformers.AutoModelForSequenceClassification


def spec_options(path: Path, num_classes: int, input_shape: tuple[int, ...]) -> dict[str, Any]:
    """The spec options of ``hf:DIR`` for the data: config overrides (``num_labels``) and,
    for an image model fed another size than its config's, position-encoding interpolation."""
    task = task_of(path)
    cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    options: dict[str, Any] = {"task": task, "config": {"num_labels": int(num_classes)}}
    if task == "image":
        size = cfg.get("image_size")
        if (
            isinstance(size, int)
            and len(input_shape) == 3
            and tuple(input_shape[1:])
            != (
                size,
                size,
            )
        ):
            options["interpolate_pos_encoding"] = True
        if has_weights(path) is False:  # a config-only directory: build for the data's size
            options["config"].update(num_channels=int(input_shape[0]))
            if isinstance(size, int) and len(input_shape) == 3:
                options["config"]["image_size"] = int(input_shape[1])
                options.pop("interpolate_pos_encoding", None)
    return options


def _config(transformers: ModuleType, spec: ModelSpec) -> Any:
    overrides = dict(spec.options.get("config", {}))
    num_labels = overrides.pop("num_labels", None)
    config = transformers.AutoConfig.from_pretrained(spec.name, **overrides)
    if num_labels is not None:  # the setter renames the labels LABEL_0.. for the new count
        config.num_labels = int(num_labels)
    return config


def build_hf(spec: ModelSpec) -> nn.Module:
    """The architecture of ``hf:DIR`` (random weights) with ``spec.options`` applied."""
    path = check_dir(spec.name)
    transformers = import_transformers()
    task: Task = spec.options.get("task") or task_of(path)
    model = _auto_class(transformers, task).from_config(_config(transformers, spec))
    return _wrap(model, task, bool(spec.options.get("interpolate_pos_encoding")))


def load_pretrained(spec: ModelSpec) -> tuple[nn.Module, dict[str, Any]]:
    """``hf:DIR`` with the directory's weights; a head for another class count (or a base
    model without one) is initialized fresh, and reported."""
    path = check_dir(spec.name)
    transformers = import_transformers()
    task: Task = spec.options.get("task") or task_of(path)
    config = _config(transformers, spec)
    saved = json.loads((path / "config.json").read_text(encoding="utf-8"))
    try:
        model = _auto_class(transformers, task).from_pretrained(
            str(path), config=config, ignore_mismatched_sizes=True
        )
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"hf:{path}: cannot load the model's weights ({first})") from None
    archs = saved.get("architectures") or []
    had_head = any(
        a.endswith(("ForImageClassification", "ForSequenceClassification")) for a in archs
    )
    saved_labels = saved.get("num_labels") or len(saved.get("id2label") or {}) or None
    head_reset = not had_head or saved_labels != spec.num_classes
    wrapped = _wrap(model, task, bool(spec.options.get("interpolate_pos_encoding")))
    return wrapped.eval(), {"head_reset": ["classifier (new head)"] if head_reset else []}


def preprocessing(path: str | Path) -> dict[str, Any]:
    """What the directory says about inputs: for images the processor's size, mean and std;
    for text the tokenizer directory and its maximum length."""
    path = check_dir(path)
    transformers = import_transformers()
    if task_of(path) == "text":
        tok = load_tokenizer(path)
        max_len = getattr(tok, "model_max_length", None)
        return {
            "kind": "text",
            "tokenizer": str(path),
            "max_length": int(max_len) if max_len and max_len < 1_000_000 else None,
        }
    try:
        proc = transformers.AutoImageProcessor.from_pretrained(str(path))
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"hf:{path}: no readable image processor ({exc})") from None
    size = getattr(proc, "size", None) or {}
    h = size.get("height") or size.get("shortest_edge")
    w = size.get("width") or size.get("shortest_edge")
    return {
        "kind": "image",
        "image_size": [int(h), int(w)] if h and w else None,
        "mean": list(getattr(proc, "image_mean", None) or []) or None,
        "std": list(getattr(proc, "image_std", None) or []) or None,
    }


def load_tokenizer(path: str | Path) -> Any:
    """The tokenizer saved in ``hf:DIR``."""
    path = check_dir(path)
    transformers = import_transformers()
    try:
        return transformers.AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError, KeyError) as exc:
        raise ModelFileError(f"hf:{path}: no readable tokenizer in the directory ({exc})") from None


def layer_list(model: nn.Module) -> tuple[str, Any]:
    """The path and ``ModuleList`` of the transformer layers (``num_hidden_layers`` long)."""
    from torch import nn

    inner = getattr(model, "model", model)
    n = getattr(getattr(inner, "config", None), "num_hidden_layers", None)
    for name, m in model.named_modules():
        if isinstance(m, nn.ModuleList) and len(m) == n:
            return name, m
    raise ModelFileError(
        f"{type(inner).__name__}: no list of {n} transformer layers found to take layers from"
    )
