"""Export every precision the recipe's ``export.tflite`` asks for, each behind its parity gate.

The glue a pipeline stage needs: one call per parent model, one metadata dict per file (what
``export_tflite`` returns plus the parity report), ready for the run manifest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekd.data.inputs import Inputs, select
from edgekd.export.tflite_config import TfliteConfig
from edgekd.export.tflite_export import export_tflite
from edgekd.export.tflite_parity import check_tflite_parity


def tflite_filename(stem: str, precision: str, int8_io: bool = False) -> str:
    """``student.fp32.tflite``, ``student.int8.tflite``, ``student.int8-io.tflite``..."""
    return f"{stem}.{precision}{'-io' if int8_io else ''}.tflite"


def export_tflite_set(
    model: Any,
    out_dir: str | Path,
    cfg: TfliteConfig,
    *,
    sample: Inputs,
    calib: Inputs,
    parity_x: Inputs,
    stem: str = "student",
    gate: bool = True,
) -> list[dict[str, Any]]:
    """Export ``model`` once per ``cfg.precision`` into ``out_dir`` and gate each file.

    ``sample`` fixes the export batch (usually 1 row); ``calib`` is the calibration split
    (the first ``cfg.calib_samples`` rows are used for int8); ``parity_x`` should hold a batch
    size other than the sample's and, for the quantized files' top-1 gate, a few hundred rows.
    ``cfg.int8_io`` gives the int8 file int8 input/output tensors. With ``gate`` a failing
    gate raises ``ParityError`` (exit 1) after the file is written, so it can be inspected;
    without it every file is exported and each report's ``status`` says pass or fail.
    """
    metas = []
    for precision in cfg.precision:
        int8_io = cfg.int8_io and precision == "int8"
        path = Path(out_dir) / tflite_filename(stem, precision, int8_io)
        meta = export_tflite(
            model,
            sample,
            path,
            precision,
            calib=select(calib, slice(0, cfg.calib_samples)) if precision == "int8" else None,
            int8_io=int8_io,
        )
        report = check_tflite_parity(model, path, parity_x, precision, cfg, gate=gate)
        meta["parity"] = report.to_dict()
        meta["path"] = path.name
        metas.append(meta)
    return metas
