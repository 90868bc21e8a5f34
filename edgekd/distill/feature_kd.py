"""Feature- and relation-based distillation as a trainer objective.

The student's layers are captured with forward hooks on every batch; the teacher's layers
come from the feature cache (one row per train sample, looked up by the batch's sample
indices), so the teacher never runs during training.

    loss = KD(student, labels, teacher) + sum over hints of weight * L_method(F_s, F_t)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from edgekd.cache import Cache, load_npz, save_npz
from edgekd.distill.config import DistillConfig, HintPair
from edgekd.distill.feature_losses import AttentionTransferLoss, HintLoss, make_adapter
from edgekd.distill.hooks import FeatureHooks, resolve_module
from edgekd.distill.relation_losses import RKDLoss, SimilarityPreservingLoss
from edgekd.errors import UsageError

if TYPE_CHECKING:
    from edgekd.data.inputs import Inputs
    from edgekd.data.loaders import DataSplits
    from edgekd.teacher.load import Teacher


def hookable_module(teacher, method: str) -> nn.Module:
    """The teacher's torch module, or a clear error when it exposes no internals."""
    module = getattr(teacher, "module", None)
    if not isinstance(module, nn.Module) or isinstance(module, torch.jit.ScriptModule):
        kind = getattr(teacher, "kind", type(teacher).__name__)
        raise UsageError(
            f"distill.method {method}: needs the teacher's intermediate layers, but a {kind} "
            f"teacher ({getattr(teacher, 'path', None)}) exposes no internals that forward "
            "hooks can reach. Use a torch teacher (zoo or safetensors + arch), or a logit-based "
            "method: kd, multi_teacher, born_again or assistant"
        )
    return module


class FeatureTerm(nn.Module):
    """One (student layer, teacher layer, loss, weight) term."""

    def __init__(self, student: str, teacher: str, loss: nn.Module, weight: float) -> None:
        super().__init__()
        self.student_layer: str = student
        self.teacher_layer: str = teacher
        self.loss, self.weight = loss, weight


class FeatureObjective(nn.Module):
    """KD loss plus weighted feature terms; called by ``fit`` as ``(model, x, y, t, ix)``.

    ``teacher_features`` maps teacher layer path -> array of one row per train sample.
    Learned adapters live in the terms and are optimized with the student.
    """

    def __init__(
        self,
        kd: nn.Module,
        terms: list[FeatureTerm],
        teacher_features: dict[str, np.ndarray],
    ) -> None:
        super().__init__()
        self.kd = kd
        self.terms = nn.ModuleList(terms)
        self.teacher_features = {k: torch.from_numpy(v) for k, v in teacher_features.items()}
        self.last: dict[str, float] = {}

    def forward(
        self,
        model: nn.Module,
        x: torch.Tensor | tuple[torch.Tensor, ...] | list[torch.Tensor],
        y: torch.Tensor | None,
        t: torch.Tensor | None,
        ix: torch.Tensor,
    ) -> torch.Tensor:
        paths: list[str] = [str(term.student_layer) for term in self.terms]
        with FeatureHooks(model, paths, "student layer") as hooks:
            logits = model(*x) if isinstance(x, (tuple, list)) else model(x)  # several inputs
        total = self.kd(logits, y, t) if t is not None else logits.new_zeros(())
        for term in self.terms:
            assert isinstance(term, FeatureTerm)
            f_t = self.teacher_features[term.teacher_layer][ix]
            value = term.loss(hooks.features[term.student_layer], f_t)
            self.last[f"{term.student_layer}->{term.teacher_layer}"] = float(value.detach())
            total = total + term.weight * value
        return total


def method_pairs(method: str, cfg: DistillConfig) -> tuple[list[HintPair], str]:
    """The (student, teacher) layer pairs a feature method uses, and their recipe field."""
    if method == "fitnets":
        return list(cfg.fitnets.hints), "distill.fitnets.hints"
    if method == "at":
        return list(cfg.at.hints), "distill.at.hints"
    if method == "sp":
        return list(cfg.sp.hints), "distill.sp.hints"
    if method == "rkd":
        pair = HintPair(student=cfg.rkd.student_layer, teacher=cfg.rkd.teacher_layer)
        return [pair], "distill.rkd"
    raise ValueError(f"{method!r} is not a feature or relation method")


def check_layers(
    method: str, cfg: DistillConfig, student: nn.Module, teacher_module: nn.Module
) -> None:
    """Fail before any work when a hint names a layer that does not exist (close matches)."""
    pairs, field = method_pairs(method, cfg)
    if not pairs:
        raise UsageError(f"{field}: distill.method {method} needs at least one layer pair")
    for i, p in enumerate(pairs):
        s_where = f"{field}.student_layer" if method == "rkd" else f"{field}[{i}].student"
        t_where = f"{field}.teacher_layer" if method == "rkd" else f"{field}[{i}].teacher"
        resolve_module(student, p.student, s_where + " (student)")
        resolve_module(teacher_module, p.teacher, t_where + " (teacher)")


def _student_shapes(student: nn.Module, x: Inputs, paths: list[str]) -> dict[str, tuple]:
    from edgekd.data.inputs import select, to_torch

    was_training = student.training
    student.eval()
    with FeatureHooks(student, paths, "student layer") as hooks, torch.no_grad():
        student(*to_torch(select(x, slice(0, 2))))
    student.train(was_training)
    return {p: tuple(hooks.features[p].shape[1:]) for p in paths}


def build_feature_objective(
    method: str,
    cfg: DistillConfig,
    student: nn.Module,
    teacher_features: dict[str, np.ndarray],
    kd: nn.Module,
    sample_x: Inputs,
) -> FeatureObjective:
    """The objective for ``method`` (fitnets | at | rkd | sp) with adapters sized from shapes."""
    pairs, field = method_pairs(method, cfg)
    shapes = _student_shapes(student, sample_x, [p.student for p in pairs])
    terms = []
    for i, p in enumerate(pairs):
        loss: nn.Module
        if method == "fitnets":
            t_shape = tuple(teacher_features[p.teacher].shape[1:])
            try:
                loss = HintLoss(make_adapter(shapes[p.student], t_shape))
            except ValueError as exc:
                raise UsageError(f"{field}[{i}]: {exc}") from None
            weight = cfg.fitnets.weight
        elif method == "at":
            if len(shapes[p.student]) != 3 or teacher_features[p.teacher].ndim != 4:
                raise UsageError(
                    f"{field}[{i}]: attention transfer needs conv feature maps on both sides; "
                    f"{p.student!r} gives {shapes[p.student]}, {p.teacher!r} gives "
                    f"{tuple(teacher_features[p.teacher].shape[1:])}"
                )
            loss, weight = AttentionTransferLoss(cfg.at.p), cfg.at.weight
        elif method == "sp":
            loss, weight = SimilarityPreservingLoss(), cfg.sp.weight
        else:
            loss, weight = RKDLoss(cfg.rkd.distance_weight, cfg.rkd.angle_weight), 1.0
        terms.append(FeatureTerm(p.student, p.teacher, loss, weight))
    return FeatureObjective(kd, terms, teacher_features)


def teacher_features(
    teacher: Teacher, data: DataSplits, layers: list[str], cache: Cache, batch_size: int = 256
) -> tuple[dict[str, np.ndarray], bool]:
    """The teacher's outputs at ``layers`` (module paths) for every train sample, cached.

    Keyed by (teacher hash, data hash, layer names): a feature-based method's epochs and reruns
    never run the teacher. The teacher runs in eval mode, as for its logits.
    Returns ({layer: array with one row per train sample}, cache_hit).
    """
    module = hookable_module(teacher, "features")

    def make() -> dict[str, np.ndarray]:
        from edgekd.data.inputs import to_torch

        parts: dict[str, list[np.ndarray]] = {name: [] for name in layers}
        was_training = module.training
        module.eval()
        with FeatureHooks(module, layers, "teacher layer") as hooks, torch.no_grad():
            for batch in data.for_teacher("train").batches(batch_size):  # its own view
                module(*to_torch(batch))
                for name in layers:
                    parts[name].append(hooks.features[name].float().numpy())
        module.train(was_training)
        return {f"f{i}": np.concatenate(parts[name]) for i, name in enumerate(layers)}

    def load(path: Path) -> dict[str, np.ndarray]:
        arrays = load_npz(path)
        out = {name: arrays[f"f{i}"] for i, name in enumerate(layers)}
        if any(len(v) != len(data.train) for v in out.values()):
            raise ValueError(f"{path}: rows do not match the train split")
        return out

    key = [teacher.identity, data.hash, "features", "\n".join(layers)]
    return cache.get_or_make("teacher-features", key, make, load, save_npz, ".npz")
