"""The ``quantize`` pass: post-training quantization of the exported ONNX student (static or
dynamic int8, fp16) behind the accuracy guard, or quantization-aware training of the torch
student under the distillation loss, exported as QDQ ONNX.

A quantized file that misses its accuracy bar (and ``allow_degraded`` is off) is kept,
recorded as failed, and the pipeline stops after the pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekd.artifact import Artifact
from edgekd.errors import ParityError, StageError
from edgekd.passes import Services, the_model
from edgekd.progress import epoch_info

if TYPE_CHECKING:
    from edgekd.recipe.schema import Recipe


def run(inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services) -> list[Artifact]:
    from edgekd.distributed import world

    q, parent = cfg.quantize, the_model(inputs)
    if q.method == "qat" and not world.is_main():
        return _qat_follower(inputs, cfg, run_dir, env)
    if q.method == "qat":
        art_id, precision, path = "student-qat-onnx", "int8", run_dir / "student-qat.onnx"
    else:
        precision = "fp16" if q.method == "fp16" else "int8"
        art_id, path = f"student-onnx-{precision}", run_dir / f"student.{precision}.onnx"
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
    task = env.reporter.task(f"quantize ({q.method})", 1)
    try:
        report = _quantize(inputs, cfg, run_dir, env, parent, path, task)
    except StageError as exc:
        if not path.is_file():
            raise
        art.status = "failed"
        kind = "parity" if isinstance(exc, ParityError) else "stage"
        art.extra.update(quantize=getattr(exc, "report", None), error=str(exc), error_kind=kind)
        return [art.stamp(run_dir)]
    finally:
        task.close()
    art.extra["quantize"] = report
    parity = report.get("parity")
    if isinstance(parity, dict):
        from edgekd.export.parity import parity_summary

        art.parity = parity_summary(parity)
    return [art.stamp(run_dir)]


def _quantize(
    inputs: list[Artifact],
    cfg: Recipe,
    run_dir: Path,
    env: Services,
    parent: Artifact,
    path: Path,
    task: Any,
) -> dict[str, Any]:
    q, data = cfg.quantize, env.data
    if q.method == "qat":
        from edgekd.models.load import load_artifact
        from edgekd.quantize.qat import qat
        from edgekd.teacher.stage import logits_of

        return qat(
            load_artifact(parent, run_dir),
            q,
            data,
            logits_of(inputs, run_dir)["train"],
            cfg.distill,
            path,
            progress=lambda e, n, info: task.update(0, epoch_info(info)),
        )
    from edgekd.quantize.api import quantize

    report = quantize(parent.absolute(run_dir), path, q, data)
    task.update(1)
    return report


def _qat_follower(
    inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services
) -> list[Artifact]:
    """A rank other than 0 of a distributed run: QAT fine-tuning with rank 0 (DDP); rank 0
    alone exports, checks and writes the file."""
    from edgekd.models.load import load_artifact
    from edgekd.quantize.qat import fine_tune_qat
    from edgekd.teacher.stage import logits_of

    model = load_artifact(the_model(inputs), run_dir)
    fine_tune_qat(model, cfg.quantize, env.data, logits_of(inputs, run_dir)["train"], cfg.distill)
    return []
