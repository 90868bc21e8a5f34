"""torch → ONNX with a dynamic batch axis (and a dynamic sequence axis for token inputs),
checked by ``onnx.checker`` and then against its parent: ``export_onnx`` runs torch and
onnxruntime on a batch whose size differs from the export's (token inputs also at a shorter
sequence length) and compares every output, as optimum's exporters do. Text models take
int64 ``input_ids`` and ``attention_mask``.
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


def input_axes(sample: Inputs) -> tuple[list[str], dict[str, dict[int, str]]]:
    """Input names and dynamic axes: the batch always; the sequence of integer (token) inputs."""
    names = list(sample) if isinstance(sample, dict) else [INPUT_NAME]
    axes: dict[str, dict[int, str]] = {}
    for name, a in zip(names, as_tuple(sample), strict=True):
        axes[name] = (
            {0: "batch", 1: "sequence"} if a.dtype.kind in "iu" and a.ndim == 2 else {0: "batch"}
        )
    return names, axes


def export_onnx(
    model: nn.Module,
    sample: Inputs,
    path: str | Path,
    opset: int = 18,
    *,
    parity_x: Inputs | None = None,
    atol: float = 1e-4,
    rtol: float = 1e-3,
    parity_rows: int = PARITY_ROWS,
    gate: bool = True,
) -> Exported:
    """Export ``model`` (eval mode) traced on ``sample`` (one array, or a dict of arrays by
    input name) to ``path``, then check it.

    Uses the TorchScript-based exporter, which handles every op in the zoo and gives a
    self-contained file (no external data); ``onnx.checker`` validates the result. Parity
    runs on ``parity_rows`` rows of ``parity_x`` (default: random), at a batch size other
    than the sample's;
    with ``gate`` a mismatch raises ``ParityError`` (the file stays, to be inspected).
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
    if parity_x is None:
        parity_x = (
            {k: np.resize(v, (parity_rows + 1, *v.shape[1:])) for k, v in sample.items()}
            if isinstance(sample, dict)  # token inputs: the sample's rows again
            else random_inputs(tuple(sample.shape[1:]), parity_rows + 1)
        )
    elif not isinstance(parity_x, dict):
        parity_x = np.ascontiguousarray(parity_x, dtype=np.float32)
    batch = rows(sample)
    report = check_onnx_parity(model, path, parity_batch(parity_x, batch, parity_rows), atol, rtol)
    if gate:
        raise_on_failure(report, path.name)
    return Exported(path, "onnx", "fp32", report, {"opset": opset, "export_batch": batch})


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
    ref = torch_outputs(model, x)
    cand = OnnxRunner(onnx_path).run(x)
    return compare_outputs({OUTPUT_NAME: ref}, cand, atol=atol, rtol=rtol)
