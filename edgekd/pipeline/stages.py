"""The pipeline's stages. Each takes the run context, writes its artifacts into the run
directory (atomically) and records them in the manifest; ``compress`` chains them.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from edgekd.artifact import Artifact, Format
from edgekd.data.dataset import gather
from edgekd.data.loaders import load_data
from edgekd.errors import ParityError
from edgekd.export.parity import parity_summary
from edgekd.fileio import atomic_save
from edgekd.models.files import save_exported, save_weights
from edgekd.pipeline.context import Context
from edgekd.progress import epoch_info


def stage_data(ctx: Context) -> None:
    data = load_data(ctx.recipe.data)
    ctx.data = data
    from edgekd.data.views import save_preprocess

    save_preprocess(data, ctx.run.path)
    ctx.run.manifest["data"] = {
        "name": data.name,
        "hash": data.hash,
        "num_classes": data.num_classes,
        "input_shape": list(data.input_shape),
        "sizes": {s: len(getattr(data, s)) for s in ("train", "val", "test", "calib")},
        "labeled": data.train.y is not None,
        "preprocess": "preprocess.json",
    }


def stage_teacher(ctx: Context) -> None:
    from edgekd.teacher.train import teacher_from_config

    cfg, data = ctx.recipe.teacher, ctx.require_data()
    teacher, hit, source = teacher_from_config(cfg, data, ctx.cache, ctx.reporter)
    assert teacher.path is not None
    rel = Path("teacher") / teacher.path.name
    (ctx.run.path / "teacher").mkdir(exist_ok=True)
    source_path = teacher.path
    atomic_save(ctx.run.path / rel, lambda tmp: shutil.copyfile(source_path, tmp))
    fmt: Format = (
        "onnx" if teacher.kind == "onnx" else "sklearn" if teacher.kind == "sklearn" else "torch"
    )
    art = Artifact(
        id="teacher",
        role="teacher",
        stage="teacher",
        format=fmt,
        precision="fp32",
        path=str(rel),
        params=teacher.params,
        extra={"source": source, "kind": teacher.kind, "cache_hit": hit, **teacher.info},
    )
    if teacher.spec is not None:
        art.extra["model"] = teacher.spec.to_dict()
    if isinstance(teacher.module, nn.Module):
        from edgekd.models.zoo import torch_macs

        try:
            art.macs = torch_macs(teacher.module, data.teacher_input_shape)
        except Exception:
            art.macs = None  # scripted modules without hookable layers
    ctx.teacher = teacher
    ctx.run.put_artifact(art.stamp(ctx.run.path))


def stage_teacher_outputs(ctx: Context) -> None:
    from edgekd.teacher.outputs import teacher_outputs

    data = ctx.require_data()
    assert ctx.teacher is not None
    total = len(data.train) + len(data.val) + len(data.test)
    task = ctx.reporter.task("teacher outputs (cache)", total)
    info: dict = {}
    logits, hit = teacher_outputs(
        ctx.teacher, data, ctx.cache, progress=lambda d, n: task.update(d), info=info
    )
    task.update(total, "cache hit" if hit else "cached")
    task.close()
    ctx.teacher_logits = logits  # type: ignore[assignment]
    ctx.run.manifest["teacher_outputs"] = {
        "cache_hit": hit,
        "teacher_hash": ctx.teacher.identity,
        "bytes_on_disk": info.get("bytes"),
        "shards": info.get("shards"),
        "top_k": info.get("top_k"),
    }


def _train_student(ctx: Context, artifact_id: str, distilled: bool) -> None:
    """Distill (or, for the baseline, train on hard labels) the student, with checkpoints."""
    from safetensors.torch import load_file

    from edgekd.distill.api import distill, train_baseline
    from edgekd.models.spec import ModelSpec, build
    from edgekd.models.zoo import count_params, torch_macs

    r, data = ctx.recipe, ctx.require_data()
    s = r.student
    weights = ctx.run.path / f"{artifact_id}.safetensors"
    done = ctx.run.artifact(artifact_id)
    if ctx.run.stage_done(artifact_id) and weights.is_file() and done is not None:
        model = build(ModelSpec.from_dict(done.extra["model"]))
        model.load_state_dict(load_file(str(weights)))
        ctx.models[artifact_id] = model.eval()
        if distilled and r.distill.method == "assistant":
            _restore_assistant(ctx)
        return
    ckpt_dir = ctx.run.path / "checkpoints"
    ckpt_dir.mkdir(exist_ok=True)
    ckpt = ckpt_dir / f"{artifact_id}.pt"
    parent, info = "teacher", dict[str, Any]()
    if distilled:
        from edgekd.teacher.train import teacher_from_config

        extra = [
            teacher_from_config(c, data, ctx.cache, ctx.reporter, f"teachers[{i}]")[0]
            for i, c in enumerate(r.teachers)
        ]
        assert ctx.teacher is not None
        result = distill(
            data,
            ctx.teacher,
            s,
            r.distill,
            teachers=extra,
            cache=ctx.cache,
            reporter=ctx.reporter,
            checkpoint=ckpt,
        )
        model, hist, parent, info = result.model, result.history, result.parent, result.info
        spec, init = result.spec, result.init
        if result.assistant is not None:
            _put_assistant(ctx, result.assistant, result.assistant_info)
    else:
        model, hist, spec, init = train_baseline(
            data, s, r.distill, teacher=ctx.teacher, reporter=ctx.reporter, checkpoint=ckpt
        )
    save_weights(model, weights)
    ctx.models[artifact_id] = model.eval()
    art = Artifact(
        id=artifact_id,
        role="student" if distilled else "baseline",
        stage="distill" if distilled else "baseline",
        format="torch",
        precision="fp32",
        path=weights.name,
        parent=parent if distilled else None,
        params=count_params(model),
        macs=torch_macs(model, data.input_shape),
        extra={"model": spec.to_dict(), "init": init, "history": hist.to_dict()},
    )
    if spec.source == "zoo":
        art.extra.update(arch=s.arch, width=s.width, depth=s.depth)
    if distilled:
        art.extra["method"] = r.distill.method
        if info:
            art.extra[r.distill.method] = info
    ctx.run.put_artifact(art.stamp(ctx.run.path))


def _put_assistant(ctx: Context, model: nn.Module, info: dict[str, Any]) -> None:
    from edgekd.models.zoo import count_params, torch_macs

    data = ctx.require_data()
    weights = ctx.run.path / "assistant.safetensors"
    save_weights(model, weights)
    ctx.models["assistant"] = model
    art = Artifact(
        id="assistant",
        role="teacher",
        stage="assistant",
        format="torch",
        precision="fp32",
        path=weights.name,
        parent="teacher",
        params=count_params(model),
        macs=torch_macs(model, data.input_shape),
        extra=info,
    )
    ctx.run.put_artifact(art.stamp(ctx.run.path))


def _restore_assistant(ctx: Context) -> None:
    """On resume: reload the assistant artifact so later stages can evaluate it."""
    from edgekd.models.files import load_zoo_weights

    a, data = ctx.recipe.distill.assistant, ctx.require_data()
    path = ctx.run.path / "assistant.safetensors"
    if path.is_file():
        ctx.models["assistant"] = load_zoo_weights(
            path, a.arch, data.input_shape, data.num_classes, a.width, a.depth
        )


def stage_distill(ctx: Context) -> None:
    from edgekd.data.text import check_text_views

    check_text_views(ctx.require_data(), ctx.recipe.distill.method)
    _train_student(ctx, "student", distilled=True)


def stage_baseline(ctx: Context) -> None:
    _train_student(ctx, "baseline", distilled=False)


def stage_export_onnx(ctx: Context) -> None:
    from edgekd.export.onnx_export import check_onnx_parity, export_onnx

    r, data = ctx.recipe, ctx.require_data()
    parent = ctx.run.artifact(ctx.deploy)
    assert parent is not None
    model = ctx.models[ctx.deploy]
    path = ctx.run.path / "student.onnx"
    export_onnx(model, data.val.take(r.export.export_batch), path, opset=r.export.opset)
    batch = r.export.parity_batch
    if batch == r.export.export_batch:
        batch += 1  # parity must use a batch size the export did not see
    report = check_onnx_parity(model, path, data.val.take(batch), r.export.atol, r.export.rtol)
    art = Artifact(
        id="student-onnx",
        role="student",
        stage="export",
        format="onnx",
        precision="fp32",
        path=path.name,
        parent=parent.id,
        params=parent.params,
        macs=parent.macs,
        parity=parity_summary(report),
        status="ok" if report.status == "pass" else "failed",
    )
    ctx.run.put_artifact(art.stamp(ctx.run.path))
    if report.status != "pass":
        ctx.run.save()
        raise ParityError("parity check failed for student.onnx: " + "; ".join(report.failures))


def stage_evaluate(ctx: Context) -> None:
    """Evaluate every artifact on the test split with the runtime that runs it."""
    from edgekd.evaluate.metrics import classification_metrics

    data = ctx.require_data()
    assert data.test.y is not None
    t_test = ctx.teacher_logits["test"]
    arts = [a for a in ctx.run.artifacts() if a.status == "ok"]
    task = ctx.reporter.task("evaluate artifacts", len(arts))
    for i, art in enumerate(arts):
        logits = t_test if art.id == "teacher" else predict_artifact(ctx, art, data.test)
        art.metrics = classification_metrics(logits, data.test.y, t_test)
        art.extra["runtime"] = runtime_of(art)
        ctx.run.put_artifact(art)
        task.update(i + 1, art.id)
    task.close()


def runtime_of(art: Artifact) -> str:
    return {"torch": "torch", "onnx": "onnxruntime", "tflite": "litert", "sklearn": "scikit-learn"}[
        art.format
    ]


def predict_artifact(ctx: Context, art: Artifact, x: Any) -> np.ndarray:
    """Logits of an artifact on ``x`` (a split, read batch by batch), by its own runtime."""
    from edgekd.train.loop import predict

    if art.id == "teacher" and ctx.teacher is not None:
        return ctx.teacher.predict(x.take(len(x)) if hasattr(x, "take") else x)
    if art.format == "torch":
        return predict(ctx.models[art.id], x)
    if art.format == "onnx":
        from edgekd.runtime.onnx import OnnxRunner

        return OnnxRunner(art.absolute(ctx.run.path)).predict(x)
    if art.format == "tflite":
        from edgekd.runtime.litert import TfliteRunner

        return TfliteRunner(art.absolute(ctx.run.path)).predict(x)
    raise ValueError(f"cannot run artifact format {art.format!r}")


def stage_profile(ctx: Context) -> None:
    """Profile every exported artifact: static analysis, host measurement, device targets."""
    from edgekd.profile.api import profile

    r = ctx.recipe
    arts = [a for a in ctx.run.artifacts() if a.status == "ok" and a.format in ("onnx", "tflite")]
    task = ctx.reporter.task("profile artifacts", len(arts))
    profiles = []
    for i, art in enumerate(arts):
        result = profile(
            art.absolute(ctx.run.path),
            targets=list(r.targets.names) or None,
            budgets=dict(r.targets.budgets) or None,
            measure=r.targets.measure,
            accuracy=art.metrics.get("accuracy"),
            strict=r.targets.strict,
            input_shapes=input_shapes(ctx) if art.format == "onnx" else None,
        )
        result["model"]["path"] = art.path
        art.macs = result["model"].get("macs", art.macs)
        if art.params is None:
            art.params = result["model"].get("params")
        ctx.run.put_artifact(art)
        profiles.append({"artifact": art.id, **result})
        task.update(i + 1, art.id)
    task.close()
    ctx.run.manifest["profiles"] = profiles


def input_shapes(ctx: Context) -> dict[str, list[int]] | None:
    """The real input signature at batch 1 (text: ``input_ids``/``attention_mask`` of the
    data's sequence length), so a file with dynamic axes is profiled on what it will see."""
    data = ctx.require_data()
    specs = data.specs()
    if len(specs) == 1 and specs[0].dtype == "float32":
        return None  # one image/feature input: the file's own static shape
    return {s.name: [1, *s.shape] for s in specs}


def stage_export_tflite(ctx: Context) -> None:
    """Export the distilled student to every ``export.tflite.precision``, each gated
    against its torch parent; a failing file is recorded as failed, then the stage fails."""
    from edgekd.export.tflite_stage import export_tflite_set

    r, data = ctx.recipe, ctx.require_data()
    parent = ctx.run.artifact(ctx.deploy)
    assert parent is not None
    cfg = r.export.tflite
    task = ctx.reporter.task("export TFLite", len(cfg.precision))
    metas = export_tflite_set(
        ctx.models[ctx.deploy],
        ctx.run.path,
        cfg,
        sample=data.val.take(r.export.export_batch),
        calib=gather(data.calib),
        parity_x=data.val.take(len(data.val) if data.val.dense is not None else 512),
        gate=False,
    )
    task.update(len(cfg.precision))
    task.close()
    from edgekd.export.tflm_hop import mcu_hop_for_run
    from edgekd.profile.targets import load_target

    for_mcu = any(load_target(n).kind == "mcu" for n in r.targets.names)
    failed = mcu_hop_for_run(
        ctx.run.path,
        metas,
        data.val.take(512),  # type: ignore[arg-type]
        for_mcu,
        cfg.min_top1_agreement,
    )
    for meta in metas:
        parity = meta.pop("parity")
        quant = meta["precision"]
        art = Artifact(
            id=f"student-tflite-{quant}" + ("-io" if meta["int8_io"] else ""),
            role="student",
            stage="export",
            format="tflite",
            precision="int8" if quant in ("int8", "dynamic_int8") else quant,
            path=meta["path"],
            parent=parent.id,
            params=parent.params,
            macs=parent.macs,
            parity=parity_summary(parity),
            status="ok" if parity["status"] == "pass" else "failed",
            extra={"tflite": meta},
        )
        ctx.run.put_artifact(art.stamp(ctx.run.path))
        if art.status == "failed":
            failed.append(f"{art.path}: " + "; ".join(parity["failures"]))
    if failed:
        ctx.run.save()
        raise ParityError("parity check failed for " + " | ".join(failed))


def stage_prune(ctx: Context) -> None:
    """Prune the distilled student and fine-tune it under the distillation loss (cached
    teacher outputs); the pruned model becomes the one the export stages ship."""

    from edgekd.prune.api import prune

    r, data = ctx.recipe, ctx.require_data()
    parent = ctx.run.artifact("student")
    assert parent is not None
    steps = r.prune.steps
    task = ctx.reporter.task(f"prune ({r.prune.method})", steps)
    model, report = prune(
        ctx.models["student"],
        r.prune,
        data,
        ctx.teacher_logits["train"],
        r.distill,
        progress=lambda e, n, info: task.update(min(e, steps), epoch_info(info)),
    )
    task.close()
    if "warning" in report:
        ctx.reporter.log(f"[yellow]warning: {report['warning']}[/]")
    path = ctx.run.path / "student-pruned.pt2"
    save_exported(model, data.val.take(2), path)  # type: ignore[arg-type]
    ctx.models["student-pruned"] = model
    ctx.deploy = "student-pruned"
    art = Artifact(
        id="student-pruned",
        role="student",
        stage="prune",
        format="torch",
        precision="fp32",
        path=path.name,
        parent=parent.id,
        params=report["after"]["params"],
        macs=report["after"]["macs"],
        extra={"prune": report},
    )
    ctx.run.put_artifact(art.stamp(ctx.run.path))


def stage_quantize(ctx: Context) -> None:
    """Quantize the exported ONNX student (static/dynamic int8 or fp16, behind the accuracy
    guard), or fine-tune with fake quantization (QAT) and export QDQ ONNX."""
    from edgekd.errors import StageError

    r, data = ctx.recipe, ctx.require_data()
    cfg = r.quantize
    task = ctx.reporter.task(f"quantize ({cfg.method})", 1)
    if cfg.method == "qat":
        parent = ctx.run.artifact(ctx.deploy)
        art_id, precision = "student-qat-onnx", "int8"
        path = ctx.run.path / "student-qat.onnx"
    else:
        parent = ctx.run.artifact("student-onnx")
        precision = "fp16" if cfg.method == "fp16" else "int8"
        art_id, path = f"student-onnx-{precision}", ctx.run.path / f"student.{precision}.onnx"

    def run() -> dict:
        if cfg.method == "qat":
            from edgekd.quantize.qat import qat

            model = ctx.models[ctx.deploy]
            return qat(model, cfg, data, ctx.teacher_logits["train"], r.distill, path)
        from edgekd.quantize.api import quantize

        assert parent is not None
        return quantize(parent.absolute(ctx.run.path), path, cfg, data)

    assert parent is not None
    art = Artifact(
        id=art_id,
        role="student",
        stage="quantize",
        format="onnx",
        precision=precision,  # type: ignore[arg-type]
        path=path.name,
        parent=parent.id,
        params=parent.params,
        macs=parent.macs,
    )
    try:
        report = run()
    except StageError as exc:
        art.status = "failed"
        art.extra["quantize"] = getattr(exc, "report", None)
        if path.is_file():
            art.stamp(ctx.run.path)
        ctx.run.put_artifact(art)
        ctx.run.save()
        raise
    finally:
        task.update(1)
        task.close()
    art.extra["quantize"] = report
    parity = report.get("parity")
    if isinstance(parity, dict):
        art.parity = parity_summary(parity)
    ctx.run.put_artifact(art.stamp(ctx.run.path))
