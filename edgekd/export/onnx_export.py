"""torch → ONNX with a dynamic batch axis, checked by ``onnx.checker``.

The parity gate (``check_onnx_parity``) runs torch and onnxruntime on a batch whose size
differs from the export's, as optimum's exporters do.
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
from edgekd.export.parity import ParityReport, compare_outputs
from edgekd.fileio import atomic_path

INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def export_onnx(model: nn.Module, sample: np.ndarray, path: str | Path, opset: int = 18) -> Path:
    """Export ``model`` (eval mode) traced on ``sample`` to ``path`` with a dynamic batch axis.

    Uses the TorchScript-based exporter, which handles every op in the zoo and gives a
    self-contained file (no external data); ``onnx.checker`` validates the result.
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
    return path


def check_onnx_parity(
    model: nn.Module, onnx_path: str | Path, x: np.ndarray, atol: float, rtol: float
) -> ParityReport:
    """Compare torch and onnxruntime outputs on ``x`` (all outputs, collected failures)."""
    from edgekd.runtime.onnx import OnnxRunner

    model = model.eval()
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    cand = OnnxRunner(onnx_path).run(x)
    return compare_outputs({OUTPUT_NAME: ref}, cand, atol=atol, rtol=rtol)
