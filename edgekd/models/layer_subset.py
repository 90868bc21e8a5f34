"""A student made of some of a transformers teacher's layers (DistilBERT-style).

Sanh et al. 2019 (DistilBERT) initialize the 6-layer student from the 12-layer teacher by
taking one layer out of two; the student keeps the teacher's embeddings and head. Here the
student is the teacher's architecture with ``num_hidden_layers = len(layers)``; student layer
``j`` starts as teacher layer ``layers[j]`` and every other tensor is copied as it is.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from edgekd.errors import RecipeError

if TYPE_CHECKING:
    from torch import nn

    from edgekd.models.spec import ModelSpec


def teacher_layers(spec: ModelSpec) -> int:
    """The teacher's number of transformer layers, from its directory's config."""
    import json
    from pathlib import Path

    overrides = spec.options.get("config", {})
    if "num_hidden_layers" in overrides:
        return int(overrides["num_hidden_layers"])
    cfg = json.loads((Path(spec.name) / "config.json").read_text(encoding="utf-8"))
    n = cfg.get("num_hidden_layers", cfg.get("n_layers", cfg.get("num_layers")))
    if n is None:
        raise RecipeError(f"hf:{spec.name}: its config names no num_hidden_layers")
    return int(n)


def check_layer_indices(layers: list[int], n: int, field: str) -> None:
    """Every index in ``layers`` names one of the teacher's ``n`` layers, each at most once;
    otherwise a ``RecipeError`` naming ``field``."""
    for i in layers:
        if not 0 <= i < n:
            raise RecipeError(
                f"{field}: layer {i} is outside the teacher's {n} layers (indices 0 to {n - 1})"
            )
    if len(set(layers)) != len(layers):
        raise RecipeError(f"{field}: {layers} repeats a layer; list each teacher layer once")


def subset_spec(teacher_spec: ModelSpec, layers: list[int], where: str) -> ModelSpec:
    """The student's spec: the teacher's with ``len(layers)`` layers; every index must be a
    layer of the teacher, each at most once."""
    field = f"{where}.init_from_teacher.layers"
    n = teacher_layers(teacher_spec)
    check_layer_indices(layers, n, field)
    options = copy.deepcopy(teacher_spec.options)
    options.setdefault("config", {})["num_hidden_layers"] = len(layers)
    return replace(teacher_spec, options=options)


def copy_layers(teacher: nn.Module, student: nn.Module, layers: list[int]) -> None:
    """Load the student with the teacher's tensors, layer ``j`` from teacher layer
    ``layers[j]``."""
    from edgekd.models.hf import layer_list

    t_path, _ = layer_list(teacher)
    s_path, _ = layer_list(student)
    source = teacher.state_dict()
    state = {}
    for key in student.state_dict():
        src = key
        if key.startswith(f"{s_path}."):
            index, _, rest = key[len(s_path) + 1 :].partition(".")
            src = f"{t_path}.{layers[int(index)]}.{rest}"
        state[key] = source[src].clone()
    student.load_state_dict(state)


def student_from_teacher(
    cfg: Any, teacher: Any, layers: list[int], where: str
) -> tuple[nn.Module, ModelSpec, dict[str, Any]]:
    """The student of ``student.init_from_teacher`` (model, spec, info)."""
    from edgekd.models.spec import build

    t_spec = getattr(teacher, "spec", None)
    t_module = getattr(teacher, "module", None)
    if t_spec is None or t_spec.source != "hf" or t_module is None:
        raise RecipeError(
            f"{where}.init_from_teacher: needs a transformers teacher (teacher.model: hf:DIR) "
            "to take layers from"
        )
    if cfg.model is not None and cfg.model != t_spec.label:
        raise RecipeError(
            f"{where}.init_from_teacher: the student is the teacher's architecture with fewer "
            f"layers; drop {where}.model ({cfg.model}) or set it to {t_spec.label}"
        )
    spec = subset_spec(t_spec, list(layers), where)
    student = build(spec)
    copy_layers(t_module, student, list(layers))
    info = {
        "model": spec.label,
        "weights_from": "teacher",
        "init_from_teacher": {"layers": list(layers), "teacher_layers": teacher_layers(t_spec)},
    }
    return student, spec, info
