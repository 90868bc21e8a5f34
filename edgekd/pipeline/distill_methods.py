"""The ``distill`` stage for every ``distill.method`` other than plain ``kd``.

Each function trains the student the stage built and returns what the stage records:
(the trained student, its training history, the id of the artifact that taught it, extra
manifest info). The losses and algorithms live in ``edgekd.distill``; this is the glue that
loads extra teachers, caches each hop and writes intermediate artifacts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgekd.distill.config import FEATURE_METHODS, TrainConfig
from edgekd.distill.losses import KDLoss
from edgekd.distill.trainer import History, fit, seed_everything
from edgekd.pipeline.context import Context

Result = tuple[nn.Module, History, str, dict[str, Any]]


def _fmt(info: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4f}" for k, v in info.items())


def run_method(
    ctx: Context, model: nn.Module, cfg: TrainConfig, loss: KDLoss, ckpt: Path
) -> Result:
    """Train ``model`` with ``ctx.recipe.distill.method`` (not ``kd``)."""
    method = ctx.recipe.distill.method
    runners: dict[str, Callable[..., Result]] = {
        "multi_teacher": _multi_teacher,
        "born_again": _born_again,
        "assistant": _assistant,
        "data_free": _data_free,
    }
    if method in FEATURE_METHODS:
        return _feature(ctx, model, cfg, loss, ckpt)
    return runners[method](ctx, model, cfg, loss, ckpt)


def _fit(ctx: Context, label: str, model, cfg: TrainConfig, **kw) -> History:
    task = ctx.reporter.task(label, cfg.epochs)
    data = ctx.require_data()
    train = kw.pop("train", data.train)
    hist = fit(
        model,
        train,
        data.val,
        cfg,
        progress=lambda e, n, info: task.update(e, _fmt(info)),
        **kw,
    )
    task.close()
    return hist


def _feature(ctx: Context, model, cfg: TrainConfig, loss: KDLoss, ckpt: Path) -> Result:
    from edgekd.distill.feature_kd import (
        build_feature_objective,
        check_layers,
        hookable_module,
        method_pairs,
    )
    from edgekd.teacher.cache import teacher_features

    r, data = ctx.recipe, ctx.require_data()
    method = r.distill.method
    assert ctx.teacher is not None
    check_layers(method, r.distill, model, hookable_module(ctx.teacher, method))
    pairs, _ = method_pairs(method, r.distill)
    layers = list(dict.fromkeys(p.teacher for p in pairs))
    feats, hit = teacher_features(ctx.teacher, data, layers, ctx.cache)
    seed_everything(cfg.seed)  # adapters (FitNets regressors) are initialized from the seed
    objective = build_feature_objective(method, r.distill, model, feats, loss, data.train.x)
    hist = _fit(
        ctx,
        f"distill student ({method})",
        model,
        cfg,
        teacher_logits=ctx.teacher_logits["train"],
        checkpoint=ckpt,
        objective=objective,
    )
    extra = {
        "teacher_features": {"layers": layers, "cache_hit": hit},
        "pairs": [p.model_dump() for p in pairs],
        "adapter_params": sum(p.numel() for p in objective.parameters()),
    }
    return model, hist, "teacher", extra


def _load_extra_teacher(ctx: Context, cfg, index: int):
    from edgekd.errors import RecipeError
    from edgekd.teacher.load import load_teacher_file
    from edgekd.teacher.train import train_or_load_teacher

    data = ctx.require_data()
    if cfg.path is not None:
        return load_teacher_file(cfg, data)
    if cfg.train:
        task = ctx.reporter.task(f"train teachers[{index}]", cfg.fit.epochs)
        teacher, _ = train_or_load_teacher(
            cfg, data, ctx.cache, progress=lambda e, n, info: task.update(e, _fmt(info))
        )
        task.close()
        return teacher
    raise RecipeError(f"teachers[{index}]: set path, or train: true")


def _multi_teacher(ctx: Context, model, cfg: TrainConfig, loss: KDLoss, ckpt: Path) -> Result:
    from edgekd.distill.multi_teacher import check_label_sets, check_widths, ensemble_logits
    from edgekd.teacher.cache import teacher_outputs

    r, data = ctx.recipe, ctx.require_data()
    mt = r.distill.multi_teacher
    assert ctx.teacher is not None
    teachers = [ctx.teacher] + [_load_extra_teacher(ctx, c, i) for i, c in enumerate(r.teachers)]
    names = ["teacher"] + [f"teachers[{i}]" for i in range(len(r.teachers))]
    check_label_sets(teachers, names)
    outputs, info = [ctx.teacher_logits], []
    for t in teachers[1:]:
        outputs.append(teacher_outputs(t, data, ctx.cache)[0])  # cached per teacher
    for t, name, out in zip(teachers, names, outputs, strict=True):
        info.append(
            {
                "name": name,
                "kind": t.kind,
                "teacher_hash": t.identity,
                "val_accuracy": float(np.mean(out["val"].argmax(1) == data.val.y)),
                "test_accuracy": float(np.mean(out["test"].argmax(1) == data.test.y)),
            }
        )
    check_widths([o["train"] for o in outputs], names)
    t = r.distill.temperature
    targets = {
        s: ensemble_logits([o[s] for o in outputs], t, mt.weighting, mt.weights)
        for s in ("train", "test")
    }
    ens_test = float(np.mean(targets["test"].argmax(1) == data.test.y))
    hist = _fit(
        ctx,
        f"distill student ({len(teachers)} teachers)",
        model,
        cfg,
        loss=loss,
        teacher_logits=targets["train"],
        checkpoint=ckpt,
    )
    extra = {"teachers": info, "weighting": mt.weighting, "ensemble_test_accuracy": ens_test}
    return model, hist, "teacher", extra


def _build_student(ctx: Context) -> nn.Module:
    from edgekd.models.zoo import build_model

    s, data = ctx.recipe.student, ctx.require_data()
    return build_model(s.arch, data.input_shape, data.num_classes, s.width, s.depth)


def _born_again(ctx: Context, model, cfg: TrainConfig, loss: KDLoss, ckpt: Path) -> Result:
    from edgekd.distill.born_again import born_again

    gens = ctx.recipe.distill.born_again.generations

    def progress(g: int):
        task = ctx.reporter.task(f"born-again generation {g}/{gens + 1}", cfg.epochs)
        return lambda e, n, info: task.update(e, _fmt(info))

    final, records = born_again(
        lambda: _build_student(ctx),
        ctx.require_data(),
        ctx.teacher_logits["train"],
        cfg,
        loss,
        gens,
        checkpoint_dir=ckpt.parent / ckpt.stem,
        progress=progress,
    )
    hist = History(**records[-1]["history"])
    gen_info = [
        {
            "generation": rec["generation"],
            "best_val_accuracy": rec["history"]["best_val_accuracy"],
        }
        for rec in records
    ]
    return final, hist, "teacher", {"generations": gen_info}


def _assistant(ctx: Context, model, cfg: TrainConfig, loss: KDLoss, ckpt: Path) -> Result:
    """Hop 1 teacher -> assistant (cached by content), hop 2 assistant -> student."""
    from safetensors.torch import load_file

    from edgekd.artifact import Artifact
    from edgekd.fileio import sha256_bytes, sha256_file
    from edgekd.models.files import save_weights
    from edgekd.models.zoo import build_model, count_params, torch_macs
    from edgekd.teacher.cache import teacher_outputs
    from edgekd.teacher.load import torch_teacher

    r, data = ctx.recipe, ctx.require_data()
    a = r.distill.assistant
    assert ctx.teacher is not None
    seed_everything(cfg.seed)  # the assistant's initial weights depend on the seed only
    assistant = build_model(a.arch, data.input_shape, data.num_classes, a.width, a.depth)
    spec = json.dumps(
        {
            "assistant": a.model_dump(mode="json"),
            "train": cfg.model_dump(mode="json"),
            "loss": [loss.temperature, loss.alpha, loss.kind],
        },
        sort_keys=True,
    )
    key = sha256_bytes(ctx.teacher.identity.encode(), data.hash.encode(), spec.encode())[:32]
    cached = ctx.cache / "assistants" / f"{a.arch}-{key}.safetensors"
    hit = cached.is_file()
    hist1: dict[str, Any] | None = None
    if hit:
        try:
            assistant.load_state_dict(load_file(str(cached)))
        except Exception:
            hit = False  # an unreadable cache entry is retrained, never trusted
    if not hit:
        h = _fit(
            ctx,
            "distill assistant (hop 1)",
            assistant,
            cfg,
            loss=loss,
            teacher_logits=ctx.teacher_logits["train"],
            checkpoint=ckpt.parent / "assistant.pt",
        )
        hist1 = h.to_dict()
        save_weights(assistant, cached)
    assistant.eval()
    as_teacher = torch_teacher(assistant, "assistant", sha256_file(cached), cached)
    a_logits, out_hit = teacher_outputs(as_teacher, data, ctx.cache)
    weights = ctx.run.path / "assistant.safetensors"
    save_weights(assistant, weights)
    ctx.models["assistant"] = assistant
    art = Artifact(
        id="assistant",
        role="teacher",
        stage="assistant",
        format="torch",
        precision="fp32",
        path=weights.name,
        parent="teacher",
        params=count_params(assistant),
        macs=torch_macs(assistant, data.input_shape),
        extra={
            "hop": 1,
            "arch": a.arch,
            "width": a.width,
            "depth": a.depth,
            "cache_hit": hit,
            "outputs_cache_hit": out_hit,
            "history": hist1,
        },
    )
    ctx.run.put_artifact(art.stamp(ctx.run.path))
    hist = _fit(
        ctx,
        "distill student from assistant (hop 2)",
        model,
        cfg,
        loss=loss,
        teacher_logits=a_logits["train"],
        checkpoint=ckpt,
    )
    return model, hist, "assistant", {"hop": 2, "assistant_cache_hit": hit}


def _data_free(ctx: Context, model, cfg: TrainConfig, loss: KDLoss, ckpt: Path) -> Result:
    from edgekd.data.loaders import Split
    from edgekd.distill.data_free import deep_inversion
    from edgekd.errors import UsageError
    from edgekd.fileio import atomic_save, sha256_bytes

    r, data = ctx.recipe, ctx.require_data()
    df = r.distill.data_free
    assert ctx.teacher is not None
    module = ctx.teacher.module
    if not isinstance(module, nn.Module) or isinstance(module, torch.jit.ScriptModule):
        raise UsageError(
            f"distill.method data_free: DeepInversion optimizes inputs through the teacher's "
            f"gradients and BatchNorm layers; a {ctx.teacher.kind} teacher has neither. "
            "Use a torch teacher (zoo or safetensors + arch)"
        )
    spec = json.dumps(
        {"df": df.model_dump(mode="json"), "shape": list(data.input_shape), "seed": cfg.seed},
        sort_keys=True,
    )
    key = sha256_bytes(ctx.teacher.identity.encode(), spec.encode())[:32]
    path = ctx.cache / "data-free" / f"{key}.npz"
    hit = path.is_file()
    info: dict[str, float] = {}
    if hit:
        with np.load(path, allow_pickle=False) as f:
            x, info = f["x"], {"target_accuracy": float(f["target_accuracy"])}
    else:
        task = ctx.reporter.task("synthesize inputs (DeepInversion)", df.samples)
        x, _, info = deep_inversion(
            module,
            data.input_shape,
            data.num_classes,
            df,
            seed=cfg.seed,
            progress=lambda d, n: task.update(d),
        )
        task.close()

        def save(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, x=x, target_accuracy=np.float64(info["target_accuracy"]))

        atomic_save(path, save)
    t_logits = ctx.teacher.predict(x)
    unlabeled = KDLoss(loss.temperature, 0.0, loss.kind)
    hist = _fit(
        ctx,
        "distill student (data-free)",
        model,
        cfg,
        train=Split(x, None),
        loss=unlabeled,
        teacher_logits=t_logits,
        checkpoint=ckpt,
    )
    extra = {
        "synthetic": {
            "samples": int(len(x)),
            "cache_hit": hit,
            "teacher_target_accuracy": info["target_accuracy"],
            "batchnorm": bool(info.get("bn_layers", 1)),
        }
    }
    return model, hist, "teacher", extra


def restore_assistant(ctx: Context) -> None:
    """On resume: reload the assistant artifact so later stages can evaluate it."""
    from safetensors.torch import load_file

    from edgekd.models.zoo import build_model

    a, data = ctx.recipe.distill.assistant, ctx.require_data()
    path = ctx.run.path / "assistant.safetensors"
    if path.is_file():
        model = build_model(a.arch, data.input_shape, data.num_classes, a.width, a.depth)
        model.load_state_dict(load_file(str(path)))
        ctx.models["assistant"] = model.eval()
