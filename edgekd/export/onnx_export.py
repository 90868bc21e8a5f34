"""torch → ONNX with a dynamic batch axis (and a dynamic sequence axis for token inputs),
checked by ``onnx.checker``. Text models take int64 ``input_ids`` and ``attention_mask``.

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

from edgekd.data.inputs import Inputs, as_tuple, rows, to_torch
from edgekd.errors import StageError, require
from edgekd.export.parity import ParityReport, compare_outputs
from edgekd.fileio import atomic_path

INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def input_axes(sample: Inputs) -> tuple[list[str], dict[str, dict[int, str]]]:
    """Input names and dynamic axes: the batch always; the sequence of integer (token) inputs."""
    names = list(sample) if isinstance(sample, dict) else [INPUT_NAME]
    axes: dict[str, dict[int, str]] = {}
    for name, a in zip(names, as_tuple(sample), strict=True):
        axes[name] = (
            {0: "batch", 1: "sequence"} if a.dtype.kind in "iu" and a.ndim == 2 else {0: "batch"}
        )
    return names, axes


def export_onnx(model: nn.Module, sample: Inputs, path: str | Path, opset: int = 18) -> Path:
    """Export ``model`` (eval mode) traced on ``sample`` to ``path`` with a dynamic batch axis.

    Uses the TorchScript-based exporter, which handles every op in the zoo and gives a
    self-contained file (no external data); ``onnx.checker`` validates the result.
    """
    onnx = require("onnx", "onnx")
    path = Path(path)
    model = model.eval()
    if not isinstance(sample, dict) and sample.dtype.kind == "f":
        sample = np.ascontiguousarray(sample, dtype=np.float32)
    names, axes = input_axes(sample)
    args = to_torch(sample)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        try:
            with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
                torch.onnx.export(
                    model,
                    args,
                    str(tmp),
                    input_names=names,
                    output_names=[OUTPUT_NAME],
                    dynamic_axes={**axes, OUTPUT_NAME: {0: "batch"}},
                    opset_version=opset,
                    dynamo=False,
                )
        except Exception as exc:
            raise StageError(f"ONNX export failed: {exc}") from None
        onnx.checker.check_model(onnx.load(str(tmp)))
    return path


def check_onnx_parity(
    model: nn.Module, onnx_path: str | Path, x: Inputs, atol: float, rtol: float
) -> ParityReport:
    """Compare torch and onnxruntime outputs on ``x`` (all outputs, collected failures).
    Token inputs are also compared at a shorter sequence length than the export's."""
    from edgekd.runtime.onnx import OnnxRunner

    model = model.eval()
    if isinstance(x, dict) and rows(x) and next(iter(x.values())).shape[1] > 2:
        short = {k: v[:, : max(2, v.shape[1] // 2)] for k, v in x.items()}
        first = check_onnx_parity(model, onnx_path, short, atol, rtol)
        if first.status != "pass":
            length = next(iter(short.values())).shape[1]
            first.failures = [f"(sequence length {length}) {f}" for f in first.failures]
            return first
    with torch.no_grad():
        ref = model(*to_torch(x)).numpy()
    cand = OnnxRunner(onnx_path).run(x)
    return compare_outputs({OUTPUT_NAME: ref}, cand, atol=atol, rtol=rtol)
