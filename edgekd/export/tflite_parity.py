"""Parity gate for a .tflite file against its torch parent, run with LiteRT.

As in ``edgekd.export.parity`` (after optimum's ``validate_model_outputs``): inputs whose
batch size differs from the export's, every output compared, one typed error for all failures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgekd.errors import UsageError
from edgekd.export.parity import ParityReport, compare_outputs, raise_on_failure
from edgekd.export.tflite_config import TfliteConfig


def parity_inputs(x: Any, export_batch: int, n: int) -> Any:
    """The first ``n`` rows of ``x``, with ``n`` moved off ``export_batch`` if they coincide."""
    from edgekd.data.inputs import rows, select

    if n == export_batch:
        n += 1
    if rows(x) < n:
        raise UsageError(f"parity check needs {n} inputs, got {rows(x)}")
    return select(x, slice(0, n))


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


def torch_outputs(model: Any, x: Any) -> np.ndarray:
    """Float outputs of a torch module in eval mode (one array, or a dict of arrays for a
    model with several inputs). Programs from ``torch.export`` are specialized to their
    export batch size; when the whole batch is refused, rows run alone."""
    import torch

    from edgekd.data.inputs import rows, select, to_torch
    from edgekd.export.tflite_export import eval_mode

    with eval_mode(model), torch.no_grad():
        try:
            return model(*to_torch(x)).float().numpy()
        except Exception:
            out = [
                model(*to_torch(select(x, slice(i, i + 1)))).float().numpy() for i in range(rows(x))
            ]
            return np.concatenate(out)
