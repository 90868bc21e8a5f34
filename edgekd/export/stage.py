"""The export passes: ``export_onnx`` and ``export_tflite``.

``FORMATS`` maps each name of the recipe's ``export.formats`` to its pass. Each exports the
model the plan hands it (the pruned student if pruning ran, else the distilled one), and
every file is checked against that parent on a batch size the export did not use; a file
that fails its parity gate is recorded as failed, and the pipeline stops after the pass.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from edgekd.artifact import Artifact
from edgekd.passes import Services, the_model

if TYPE_CHECKING:
    from edgekd.data.inputs import Inputs
    from edgekd.data.loaders import DataSplits
    from edgekd.export.parity import Exported
    from edgekd.recipe.schema import Recipe


def run_onnx(inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services) -> list[Artifact]:
    from edgekd.export.onnx_export import export_onnx
    from edgekd.models.load import load_artifact

    e, data, parent = cfg.export, env.data, the_model(inputs)
    result = export_onnx(
        load_artifact(parent, run_dir),
        data.val.take(e.export_batch),
        run_dir / "student.onnx",
        opset=e.opset,
        parity_x=data.val.take(e.parity_batch + 1),
        atol=e.atol,
        rtol=e.rtol,
        parity_rows=e.parity_batch,
        gate=False,
    )
    return [_artifact(result, "student-onnx", parent, run_dir)]


def run_teacher_onnx(
    inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services
) -> list[Artifact]:
    """The teacher as ONNX, checked like the student's export, so that evaluation and
    profiling show what shipping the teacher itself would cost. Only a torch teacher built
    and trained here (its inputs are the normalized features the student sees) is exported;
    an export that fails or misses parity is left out with a note, never failing the run."""
    from edgekd.export.onnx_export import export_onnx
    from edgekd.models.load import load_artifact

    e, data, teacher = cfg.export, env.data, the_model(inputs)
    if teacher.format != "torch" or "model" not in teacher.extra:
        env.reporter.log(f"teacher not exported: a {teacher.format} teacher without a spec")
        return []
    val = data.for_teacher("val")  # the teacher's own view (image size, tokenizer)
    try:
        result = export_onnx(
            load_artifact(teacher, run_dir),
            val.take(e.export_batch),
            run_dir / "teacher.onnx",
            opset=e.opset,
            parity_x=val.take(e.parity_batch + 1),
            atol=e.atol,
            rtol=e.rtol,
            parity_rows=e.parity_batch,
            gate=False,
        )
    except Exception as exc:  # the teacher is shown for comparison only: never fail the run
        env.reporter.log(f"[yellow]teacher not exported to ONNX: {exc}[/]")
        return []
    art = _artifact(result, "teacher-onnx", teacher, run_dir)
    art.role = "teacher"
    if art.status != "ok":
        env.reporter.log(f"[yellow]teacher ONNX left out: {art.extra.get('error')}[/]")
        (run_dir / art.path).unlink(missing_ok=True)
        return []
    return [art]


def tflite_filename(stem: str, precision: str, int8_io: bool = False) -> str:
    """``student.fp32.tflite``, ``student.int8.tflite``, ``student.int8-io.tflite``..."""
    return f"{stem}.{precision}{'-io' if int8_io else ''}.tflite"


def run_tflite(inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services) -> list[Artifact]:
    """One file per ``export.tflite.precision``; ``int8_io`` gives the int8 file int8 I/O.
    When the run profiles a microcontroller, the int8 file also takes the TFLite Micro hop
    (``export.tflm_hop``: measured arena, TFLM vs LiteRT, ``model_data.cc/.h``)."""
    from edgekd.export.tflite_export import export_tflite
    from edgekd.export.tflm_hop import mcu_hop_for_run
    from edgekd.models.load import load_artifact
    from edgekd.profile.targets import load_target

    t, data, parent = cfg.export.tflite, env.data, the_model(inputs)
    model = load_artifact(parent, run_dir)
    parity_x = parity_inputs(data)
    task = env.reporter.task("export TFLite", len(t.precision))
    results = []
    try:
        for i, precision in enumerate(t.precision):
            int8_io = t.int8_io and precision == "int8"
            results.append(
                export_tflite(
                    model,
                    data.val.take(cfg.export.export_batch),
                    run_dir / tflite_filename("student", precision, int8_io),
                    precision,
                    calib=data.calib.take(t.calib_samples) if precision == "int8" else None,
                    int8_io=int8_io,
                    parity_x=parity_x,
                    cfg=t,
                    gate=False,
                )
            )
            results[-1].meta["path"] = results[-1].path.name
            task.update(i + 1)
    finally:
        task.close()
    metas = [r.meta for r in results]
    for_mcu = any(load_target(n).kind == "mcu" for n in cfg.targets.names)
    hop_failed = mcu_hop_for_run(
        run_dir,
        metas,
        parity_x,  # type: ignore[arg-type]
        for_mcu,
        t.min_top1_agreement,
    )
    out = []
    for result in results:
        art_id = f"student-tflite-{result.precision}" + ("-io" if result.meta["int8_io"] else "")
        art = _artifact(result, art_id, parent, run_dir, {"tflite": result.meta})
        hop = [m for m in hop_failed if m.startswith(f"{art.path} on TFLite Micro")]
        if hop and art.status == "ok":
            art.status = "failed"
            art.extra.update(error="parity check failed for " + hop[0], error_kind="parity")
        out.append(art)
    return out


def parity_inputs(data: DataSplits, streamed_rows: int = 512) -> Inputs:
    """Val inputs for the TFLite gates (int8 is gated on top-1 agreement, so a few hundred
    rows): the whole split for in-memory data, its first ``streamed_rows`` otherwise."""
    return data.val.take(len(data.val) if data.val.dense is not None else streamed_rows)


def _artifact(
    result: Exported, art_id: str, parent: Artifact, run_dir: Path, extra: Any = None
) -> Artifact:
    from edgekd.export.parity import parity_summary

    report = result.parity
    art = Artifact(
        id=art_id,
        role="student",
        stage="export",
        format=result.format,  # type: ignore[arg-type]
        precision="int8" if "int8" in result.precision else result.precision,  # type: ignore[arg-type]
        path=result.path.name,
        parent=parent.id,
        params=parent.params,
        macs=parent.macs,
        parity=parity_summary(report),
        status="ok" if report.status == "pass" else "failed",
        extra=dict(extra or {}),
    )
    if report.status != "pass":
        art.extra["error"] = f"parity check failed for {art.path}: " + "; ".join(report.failures)
        art.extra["error_kind"] = "parity"
    return art.stamp(run_dir)


# format -> its pass; the recipe's export.formats accepts these keys
FORMATS: dict[str, Callable[[list[Artifact], Recipe, Path, Services], list[Artifact]]] = {
    "onnx": run_onnx,
    "tflite": run_tflite,
}

if TYPE_CHECKING:
    ExportFormat = str
else:
    ExportFormat = Literal[tuple(FORMATS)]
