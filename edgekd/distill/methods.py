"""Distillation methods: ``METHODS`` maps each ``distill.method`` to the function that runs it.

Every method gets a :class:`Job` (the data, the teacher and its cached outputs, the student
to train, the config, the cache) and returns a :class:`Distilled`. The recipe's
``distill.method`` accepts exactly the keys of ``METHODS``. To add a method: write its
function (loss modules go in their own file, as ``feature_losses.py``), add it to
``METHODS``, and give it a parameter subsection in ``DistillConfig`` if it has parameters.

torch is imported inside the functions, so the recipe schema can read the names cheaply.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from edgekd.progress import NullReporter, Reporter, epoch_info

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from edgekd.cache import Cache
    from edgekd.data.dataset import Split
    from edgekd.data.loaders import DataSplits
    from edgekd.distill.config import DistillConfig
    from edgekd.distill.losses import KDLoss
    from edgekd.teacher.load import Teacher
    from edgekd.train.loop import History


@dataclass(frozen=True)
class Job:
    """What a method gets. ``teacher_logits`` holds the teacher's outputs per split ("train"
    always); ``teacher`` is needed by methods that look inside it (feature methods,
    data_free); ``teachers`` are the extra teachers of ``multi_teacher``."""

    data: DataSplits
    teacher_logits: dict[str, np.ndarray]
    student: nn.Module
    build_student: Callable[[], nn.Module]
    config: DistillConfig
    cache: Cache
    teacher: Teacher | None = None
    teachers: Sequence[Teacher] = ()
    checkpoint: Path | None = None
    reporter: Reporter = field(default_factory=NullReporter)

    def loss(self, labeled: bool | None = None) -> KDLoss:
        from edgekd.distill.losses import kd_loss

        return kd_loss(self.config, self.data.train.y is not None if labeled is None else labeled)

    def fit(self, label: str, model: nn.Module, train: Split | None = None, **kw: Any) -> History:
        """Train ``model`` with the recipe's training settings, showing progress as ``label``."""
        from edgekd.train.loop import fit

        cfg = self.config.train_config()
        task = self.reporter.task(label, cfg.epochs)
        try:
            return fit(
                model,
                train or self.data.train,
                self.data.val,
                cfg,
                progress=lambda e, n, info: task.update(e, epoch_info(info)),
                **kw,
            )
        finally:
            task.close()


@dataclass
class Distilled:
    """The trained student (eval mode, best val epoch), its history, who taught it (an
    artifact id: ``teacher`` or ``assistant``) and what the method reports."""

    model: nn.Module
    history: History
    parent: str = "teacher"
    info: dict[str, Any] = field(default_factory=dict)
    assistant: nn.Module | None = None
    assistant_info: dict[str, Any] = field(default_factory=dict)
    spec: Any = None  # the student's ModelSpec (set by edgekd.distill)
    init: dict[str, Any] = field(default_factory=dict)  # its initial weights (models.create)


def kd(job: Job) -> Distilled:
    """Response-based KD (Hinton et al. 2015) on the cached teacher logits."""
    hist = job.fit(
        "distill student",
        job.student,
        loss=job.loss(),
        teacher_logits=job.teacher_logits["train"],
        checkpoint=job.checkpoint,
    )
    return Distilled(job.student, hist)


def feature(job: Job) -> Distilled:
    """FitNets, attention transfer, RKD or SP: KD plus a term on hooked layers (cached)."""
    from edgekd.distill.feature_kd import (
        build_feature_objective,
        check_layers,
        hookable_module,
        method_pairs,
        teacher_features,
    )
    from edgekd.errors import UsageError
    from edgekd.train.loop import seed_everything

    cfg, method = job.config, job.config.method
    if job.teacher is None:
        raise UsageError(f"distill.method {method}: needs the teacher itself, not only its logits")
    check_layers(method, cfg, job.student, hookable_module(job.teacher, method))
    pairs, _ = method_pairs(method, cfg)
    layers = list(dict.fromkeys(p.teacher for p in pairs))
    feats, hit = teacher_features(job.teacher, job.data, layers, job.cache)
    seed_everything(cfg.seed)  # adapters (FitNets regressors) are initialized from the seed
    objective = build_feature_objective(
        method, cfg, job.student, feats, job.loss(), job.data.train.take(2)
    )
    hist = job.fit(
        f"distill student ({method})",
        job.student,
        teacher_logits=job.teacher_logits["train"],
        checkpoint=job.checkpoint,
        objective=objective,
    )
    info = {
        "teacher_features": {"layers": layers, "cache_hit": hit},
        "pairs": [p.model_dump() for p in pairs],
        "adapter_params": sum(p.numel() for p in objective.parameters()),
    }
    return Distilled(job.student, hist, info=info)


def multi_teacher(job: Job) -> Distilled:
    """The student learns the weighted ensemble of several teachers' soft targets."""
    import numpy as np

    from edgekd.distill.multi_teacher import check_label_sets, check_widths, ensemble_logits
    from edgekd.teacher.outputs import teacher_outputs

    data, cfg = job.data, job.config
    names = ["teacher"] + [f"teachers[{i}]" for i in range(len(job.teachers))]
    check_label_sets([job.teacher, *job.teachers], names)
    outputs = [job.teacher_logits] + [teacher_outputs(t, data, job.cache)[0] for t in job.teachers]
    kinds = [getattr(job.teacher, "kind", "logits")] + [t.kind for t in job.teachers]
    ids = [getattr(job.teacher, "identity", None)] + [t.identity for t in job.teachers]
    info = []
    for name, kind, identity, out in zip(names, kinds, ids, outputs, strict=True):
        row: dict[str, Any] = {"name": name, "kind": kind, "teacher_hash": identity}
        for split in ("val", "test"):
            y = getattr(data, split).y
            if split in out and y is not None:
                row[f"{split}_accuracy"] = float(np.mean(out[split].argmax(1) == y))
        info.append(row)
    check_widths([np.asarray(o["train"]) for o in outputs], names)
    mt, t = cfg.multi_teacher, cfg.temperature
    splits = [s for s in ("train", "test") if all(s in o for o in outputs)]
    targets = {
        s: ensemble_logits([np.asarray(o[s]) for o in outputs], t, mt.weighting, mt.weights)
        for s in splits
    }
    hist = job.fit(
        f"distill student ({len(outputs)} teachers)",
        job.student,
        loss=job.loss(),
        teacher_logits=targets["train"],
        checkpoint=job.checkpoint,
    )
    extra: dict[str, Any] = {"teachers": info, "weighting": mt.weighting}
    if "test" in targets and data.test.y is not None:
        extra["ensemble_test_accuracy"] = float(np.mean(targets["test"].argmax(1) == data.test.y))
    return Distilled(job.student, hist, info=extra)


def born_again(job: Job) -> Distilled:
    """Born-again networks: generation k teaches generation k + 1 (same architecture)."""
    from edgekd.distill.born_again import born_again as run
    from edgekd.train.loop import History

    gens = job.config.born_again.generations
    cfg = job.config.train_config()

    def progress(g: int):
        task = job.reporter.task(f"born-again generation {g}/{gens + 1}", cfg.epochs)
        return lambda e, n, info: task.update(e, epoch_info(info))

    ckpt = job.checkpoint
    final, records = run(
        job.build_student,
        job.data,
        job.teacher_logits["train"],
        cfg,
        job.loss(),
        gens,
        checkpoint_dir=None if ckpt is None else ckpt.parent / ckpt.stem,
        progress=progress,
    )
    gen_info = [
        {"generation": r["generation"], "best_val_accuracy": r["history"]["best_val_accuracy"]}
        for r in records
    ]
    return Distilled(final, History(**records[-1]["history"]), info={"generations": gen_info})


def assistant(job: Job) -> Distilled:
    """Teacher assistant (Mirzadeh et al. 2020): hop 1 teacher -> assistant (cached by
    content), hop 2 assistant -> student."""
    from edgekd.fileio import sha256_file
    from edgekd.models.files import load_zoo_weights, save_weights
    from edgekd.models.zoo import build_model
    from edgekd.teacher.load import torch_teacher
    from edgekd.teacher.outputs import teacher_outputs
    from edgekd.train.loop import seed_everything

    data, cfg, a = job.data, job.config, job.config.assistant
    shape, classes = data.input_shape, data.num_classes
    seed_everything(cfg.seed)  # the assistant's initial weights depend on the seed only
    model = build_model(a.arch, shape, classes, a.width, a.depth)
    loss = job.loss()
    history: dict[str, Any] = {}

    def make() -> nn.Module:
        ckpt = None if job.checkpoint is None else job.checkpoint.parent / "assistant.pt"
        h = job.fit(
            "distill assistant (hop 1)",
            model,
            loss=loss,
            teacher_logits=job.teacher_logits["train"],
            checkpoint=ckpt,
        )
        history["history"] = h.to_dict()
        return model

    def load(path: Path) -> tuple[nn.Module, Path]:
        return load_zoo_weights(path, a.arch, shape, classes, a.width, a.depth), path

    spec = {
        "assistant": a.model_dump(mode="json"),
        "train": cfg.train_config().model_dump(mode="json"),
        "loss": [loss.temperature, loss.alpha, loss.kind],
    }
    teacher_id = getattr(job.teacher, "identity", None) or _logits_identity(job.teacher_logits)
    key = [teacher_id, data.hash, json.dumps(spec, sort_keys=True)]
    (trained, path), hit = job.cache.get_or_make(
        "assistants", key, make, load, save_weights, ".safetensors", collective_make=True
    )
    as_teacher = torch_teacher(trained, "assistant", sha256_file(path), path)
    a_logits, out_hit = teacher_outputs(as_teacher, data, job.cache)
    hist = job.fit(
        "distill student from assistant (hop 2)",
        job.student,
        loss=loss,
        teacher_logits=a_logits["train"],
        checkpoint=job.checkpoint,
    )
    a_info = {
        "hop": 1,
        "arch": a.arch,
        "width": a.width,
        "depth": a.depth,
        "cache_hit": hit,
        "outputs_cache_hit": out_hit,
        "history": history.get("history"),
    }
    info = {"hop": 2, "assistant_cache_hit": hit}
    return Distilled(job.student, hist, "assistant", info, trained.eval(), a_info)


def _logits_identity(logits: dict[str, np.ndarray]) -> str:
    from edgekd.fileio import sha256_bytes

    return sha256_bytes(*(logits[s].tobytes() for s in sorted(logits)))


def data_free(job: Job) -> Distilled:
    """DeepInversion (Yin et al. 2020): synthesize inputs from the teacher (cached), then
    distill on them with the teacher's logits as the only targets."""
    import numpy as np
    import torch
    from torch import nn

    from edgekd.cache import load_npz, save_npz
    from edgekd.data.views import identity_split
    from edgekd.distill.data_free import deep_inversion
    from edgekd.errors import UsageError

    data, cfg = job.data, job.config
    df, teacher = cfg.data_free, job.teacher
    module = getattr(teacher, "module", None)
    if not isinstance(module, nn.Module) or isinstance(module, torch.jit.ScriptModule):
        kind = getattr(teacher, "kind", "logits-only")
        raise UsageError(
            f"distill.method data_free: DeepInversion optimizes inputs through the teacher's "
            f"gradients and BatchNorm layers; a {kind} teacher has neither. "
            "Use a torch teacher (zoo or safetensors + arch)"
        )
    assert teacher is not None

    def make() -> dict[str, np.ndarray]:
        task = job.reporter.task("synthesize inputs (DeepInversion)", df.samples)
        x, _, info = deep_inversion(
            module,
            data.input_shape,
            data.num_classes,
            df,
            seed=cfg.seed,
            progress=lambda d, n: task.update(d),
        )
        task.close()
        return {
            "x": x,
            "logits": teacher.predict(x),  # the targets, cached: never recomputed per rank
            "target_accuracy": np.asarray(info["target_accuracy"]),
            "bn_layers": np.asarray(info["bn_layers"]),
        }

    spec = {"df": df.model_dump(mode="json"), "shape": list(data.input_shape), "seed": cfg.seed}
    key = [teacher.identity, json.dumps(spec, sort_keys=True)]
    synth, hit = job.cache.get_or_make("data-free", key, make, load_npz, save_npz, ".npz")
    x = synth["x"]
    hist = job.fit(
        "distill student (data-free)",
        job.student,
        train=identity_split(x, None),
        loss=job.loss(labeled=False),
        teacher_logits=synth["logits"] if "logits" in synth else teacher.predict(x),
        checkpoint=job.checkpoint,
    )
    info = {
        "synthetic": {
            "samples": int(len(x)),
            "cache_hit": hit,
            "teacher_target_accuracy": float(synth["target_accuracy"]),
            "batchnorm": bool(synth.get("bn_layers", 1)),
        }
    }
    return Distilled(job.student, hist, info=info)


METHODS: dict[str, Callable[[Job], Distilled]] = {
    "kd": kd,
    "fitnets": feature,
    "at": feature,
    "rkd": feature,
    "sp": feature,
    "multi_teacher": multi_teacher,
    "born_again": born_again,
    "assistant": assistant,
    "data_free": data_free,
}

if TYPE_CHECKING:
    Method = str
else:
    Method = Literal[tuple(METHODS)]
