"""torch → ONNX with a dynamic batch axis, checked by ``onnx.checker`` and then against its
parent: ``export_onnx`` runs torch and onnxruntime on a batch whose size differs from the
export's and compares every output, as optimum's exporters do.
"""

from __future__ import annotations

import io
import logging
import warnings
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgekd.errors import StageError, require
from edgekd.export.parity import (
    Exported,
    ParityReport,
    compare_outputs,
    parity_batch,
    raise_on_failure,
    random_inputs,
    torch_outputs,
)
from edgekd.fileio import atomic_path

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
PARITY_ROWS = 7


def export_onnx(
    model: nn.Module,
    sample: np.ndarray,
    path: str | Path,
    opset: int = 18,
    *,
    parity_x: np.ndarray | None = None,
    atol: float = 1e-4,
    rtol: float = 1e-3,
    parity_rows: int = PARITY_ROWS,
    gate: bool = True,
) -> Exported:
    """Export ``model`` (eval mode) traced on ``sample`` to ``path``, then check it.

    Uses the TorchScript-based exporter, which handles every op in the zoo and gives a
    self-contained file (no external data); ``onnx.checker`` validates the result. Parity
    runs on ``parity_rows`` rows of ``parity_x`` (default: random), at a batch size other
    than the sample's;
    with ``gate`` a mismatch raises ``ParityError`` (the file stays, to be inspected).
    """
    onnx = require("onnx", "onnx")
    path = Path(path)
    model = model.eval()
    x = torch.from_numpy(np.ascontiguousarray(sample, dtype=np.float32))
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        try:
            with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
                torch.onnx.export(
                    model,
                    (x,),
                    str(tmp),
                    input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME],
                    dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                    opset_version=opset,
                    dynamo=False,
                )
        except Exception as exc:
            raise StageError(f"ONNX export failed: {exc}") from None
        onnx.checker.check_model(onnx.load(str(tmp)))
    if parity_x is None:
        parity_x = random_inputs(tuple(sample.shape[1:]), parity_rows + 1)
    xs = parity_batch(np.ascontiguousarray(parity_x, dtype=np.float32), len(sample), parity_rows)
    report = check_onnx_parity(model, path, xs, atol, rtol)
    if gate:
        raise_on_failure(report, path.name)
    return Exported(path, "onnx", "fp32", report, {"opset": opset, "export_batch": len(sample)})


def check_onnx_parity(
    model: nn.Module, onnx_path: str | Path, x: np.ndarray, atol: float, rtol: float
) -> ParityReport:
    """Compare torch and onnxruntime outputs on ``x`` (all outputs, collected failures)."""
    from edgekd.runtime.onnx import OnnxRunner

    ref = torch_outputs(model, x)
    cand = OnnxRunner(onnx_path).run(x)
    return compare_outputs({OUTPUT_NAME: ref}, cand, atol=atol, rtol=rtol)
