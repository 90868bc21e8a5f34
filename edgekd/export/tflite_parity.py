"""Parity gate for a .tflite file against its torch parent, run with LiteRT.

As in ``edgekd.export.parity`` (after optimum's ``validate_model_outputs``): inputs whose
batch size differs from the export's, every output compared, one typed error for all failures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgekd.export.parity import ParityReport, compare_outputs, raise_on_failure, torch_outputs
from edgekd.export.tflite_config import TfliteConfig


def check_tflite_parity(
    model: Any,
    path: str | Path,
    x: Any,
    precision: str,
    cfg: TfliteConfig | None = None,
    *,
    gate: bool = True,
) -> ParityReport:
    """Compare torch ``model`` with the LiteRT run of ``path`` on ``x``.

    fp32/fp16: elementwise tolerance from ``cfg``. dynamic_int8/int8: the dequantized max abs
    diff is reported and top-1 agreement must reach ``cfg.min_top1_agreement`` (give a few
    hundred inputs, so that one disagreement is not a 1/7 swing). With ``gate`` a failure
    raises ``ParityError``.
    """
    from edgekd.runtime.litert import TfliteRunner

    cfg = cfg or TfliteConfig()
    atol, rtol, min_agree = cfg.tolerances(precision)
    if not isinstance(x, dict):
        x = np.ascontiguousarray(x, dtype=np.float32)
    reference = torch_outputs(model, x)
    candidate = TfliteRunner(path).predict(x)
    report = compare_outputs(
        {"logits": reference},
        {"logits": candidate},
        atol,
        rtol,
        min_top1_agreement=min_agree,
    )
    if gate:
        raise_on_failure(report, f"{path} ({precision})")
    return report
