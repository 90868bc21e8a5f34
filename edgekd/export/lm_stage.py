"""The ``export`` pass of a ``task: causal_lm`` recipe: the distilled student (``student/``)
through :func:`edgekd.export.lm_export.export_lm` into ``export/`` of the run directory
(``export.formats`` x ``export.lm``'s precisions), one artifact per file with its parity
result. A file that misses its gate is recorded as failed, and the run stops after the pass
(exit 1) with every file and result on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekd.artifact import Artifact
from edgekd.errors import ParityError
from edgekd.passes import Services, pick

if TYPE_CHECKING:
    from edgekd.recipe.schema import Recipe

EXPORT_DIR = "export"
LM_FORMATS = ("onnx", "tflite")


def artifact_id(rec: dict[str, Any]) -> str:
    """``student-onnx``, ``student-onnx-dynamic_int8``, ``student-tflite-fp32``, ..."""
    q = rec["quantization"]
    if rec["format"] == "onnx":
        return "student-onnx" if q == "fp32" else f"student-onnx-{q}"
    return f"student-tflite-{q}"


def run(inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services) -> list[Artifact]:
    """The pass (module docstring)."""
    from edgekd.export.lm_export import export_lm
    from edgekd.runtime.lm_files import SIDECAR

    parent = pick(inputs, "student")
    e = cfg.export.lm
    out = run_dir / EXPORT_DIR
    formats = [f for f in cfg.export.formats if f in LM_FORMATS]
    task = env.reporter.task("export LM student", 1)
    error = None
    try:
        records = export_lm(
            run_dir / parent.extra["hf_dir"],
            out,
            formats=formats,
            precisions=e.tflite,
            onnx_precisions=e.onnx,
            cache_length=e.cache_length,
            prefill_length=e.prefill_length,
            new_tokens=e.parity_tokens,
            min_agreement=e.min_agreement,
            atol=e.atol,
            threads=cfg.threads or 1,
        )
    except ParityError as exc:
        error = str(exc)
        records = json.loads((out / SIDECAR).read_text(encoding="utf-8"))["files"]
    finally:
        task.close()
    arts = []
    for name, rec in sorted(records.items()):
        p = rec["parity"]
        art = Artifact(
            id=artifact_id(rec),
            role="student",
            stage="export",
            format=rec["format"],
            precision=rec["precision"],
            path=f"{EXPORT_DIR}/{name}",
            parent=parent.id,
            params=parent.params,
            parity=p,
            extra={
                "runtime": "onnxruntime" if rec["format"] == "onnx" else "litert",
                "lm_export": {k: v for k, v in rec.items() if k != "parity"},
            },
        ).stamp(run_dir)
        if p["status"] == "fail":
            art.status = "failed"
            art.extra.update(error=f"parity check failed: {p['message']}", error_kind="parity")
        arts.append(art)
    if error and not any(a.status == "failed" for a in arts):  # never pass a failed export on
        raise ParityError(error)
    return arts
