"""Parity gate: compare an exported model's outputs with its parent's.

Following Hugging Face optimum's ``validate_model_outputs``: run both models on inputs whose
batch size differs from the one used at export, compare every output, collect all failures,
then raise one typed error naming each failing output, its max abs diff and the tolerance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekd.errors import ParityError

if TYPE_CHECKING:
    from edgekd.data.inputs import Inputs


@dataclass
class ParityReport:
    status: str  # "pass" | "fail"
    max_abs_diff: float
    atol: float
    rtol: float
    batch_size: int
    failures: list[str] = field(default_factory=list)
    top1_agreement: float | None = None
    rows_within_tol: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_outputs(
    reference: dict[str, np.ndarray],
    candidate: dict[str, np.ndarray],
    atol: float,
    rtol: float,
    *,
    min_top1_agreement: float | None = None,
    min_rows_within_tol: float | None = None,
) -> ParityReport:
    """Compare every named output; record shape mismatches and out-of-tolerance values.

    An element passes when ``|cand - ref| <= atol + rtol * |ref|`` (numpy.allclose).
    With ``min_top1_agreement`` (for int8 artifacts), elementwise tolerance is reported but
    the gate is the share of rows whose argmax agrees; ``min_rows_within_tol`` adds a second
    bar: the share of rows whose every element is within tolerance (an int8 file that computes
    the same integers as its model differs only on the rare row where a value sits on a
    rounding tie).
    """
    failures: list[str] = []
    worst = 0.0
    batch = 0
    agreement: float | None = None
    rows_ok: float | None = None
    for name, ref in reference.items():
        if name not in candidate:
            failures.append(f"output {name!r} is missing from the exported model")
            continue
        cand = candidate[name]
        batch = int(ref.shape[0]) if ref.ndim else 1
        if ref.shape != cand.shape:
            failures.append(f"output {name!r}: shape {cand.shape} != expected {ref.shape}")
            continue
        diff = np.abs(cand.astype(np.float64) - ref.astype(np.float64))
        max_diff = float(diff.max()) if diff.size else 0.0
        worst = max(worst, max_diff)
        if ref.ndim == 2:
            agree = float(np.mean(ref.argmax(1) == cand.argmax(1)))
            agreement = agree if agreement is None else min(agreement, agree)
        if min_rows_within_tol is not None and ref.ndim >= 1 and len(ref):
            close = diff <= atol + rtol * np.abs(ref.astype(np.float64))
            share = float(np.mean(close.reshape(len(ref), -1).all(axis=1)))
            rows_ok = share if rows_ok is None else min(rows_ok, share)
            if share < min_rows_within_tol:
                failures.append(
                    f"output {name!r}: {share:.2%} of rows within atol={atol:g}, rtol={rtol:g} "
                    f"< required {min_rows_within_tol:.2%} (max abs diff {max_diff:.3g})"
                )
        if min_top1_agreement is not None:
            if agreement is not None and agreement < min_top1_agreement:
                failures.append(
                    f"output {name!r}: top-1 agreement {agreement:.4f} "
                    f"< required {min_top1_agreement:.4f} (max abs diff {max_diff:.3g})"
                )
        elif not np.allclose(cand, ref, atol=atol, rtol=rtol):
            failures.append(
                f"output {name!r}: max abs diff {max_diff:.3g} exceeds atol={atol:g}, rtol={rtol:g}"
            )
    return ParityReport(
        status="fail" if failures else "pass",
        max_abs_diff=worst,
        atol=atol,
        rtol=rtol,
        batch_size=batch,
        failures=failures,
        top1_agreement=agreement,
        rows_within_tol=rows_ok,
    )


@dataclass
class Exported:
    """An exported file and how it compares with its parent (``parity``); ``meta`` holds
    what the exporter knows about the file (I/O tensors, converter, sizes...)."""

    path: Path
    format: str
    precision: str
    parity: ParityReport
    meta: dict[str, Any] = field(default_factory=dict)


def parity_batch(x: Inputs, export_batch: int, n: int) -> Inputs:
    """Up to ``n`` rows of ``x`` (one array or a dict by input name) for a parity check,
    never ``export_batch`` rows (a batch size the export did not see catches a graph fixed
    to its export shape)."""
    from edgekd.data.inputs import rows as count
    from edgekd.data.inputs import select

    total = count(x)
    k = min(n, total)
    if k == export_batch:
        k = k + 1 if total > k else k - 1
    return select(x, slice(0, max(k, 1)))


def random_inputs(shape: tuple[int, ...], rows: int, seed: int = 0) -> np.ndarray:
    """Standard-normal inputs of one sample's ``shape`` (when no real data is given)."""
    return np.random.default_rng(seed).standard_normal((rows, *shape)).astype(np.float32)


SUMMARY_KEYS = ("status", "max_abs_diff", "atol", "rtol", "batch_size", "top1_agreement")


def parity_summary(report: ParityReport | dict[str, Any]) -> dict[str, Any]:
    """What the manifest keeps of a parity report (the failures go into the error message)."""
    d = report.to_dict() if isinstance(report, ParityReport) else report
    return {k: d.get(k) for k in SUMMARY_KEYS}


def raise_on_failure(report: ParityReport, what: str) -> None:
    """Raise ``ParityError`` listing every failure of ``report``."""
    if report.status != "pass":
        raise ParityError(f"parity check failed for {what}: " + "; ".join(report.failures))


def torch_outputs(model: Any, x: Inputs) -> np.ndarray:
    """Float outputs of a torch module in eval mode on ``x`` (one array, or a dict of arrays
    for a model with several inputs). Programs from ``torch.export`` are specialized to
    their export batch size; when the whole batch is refused, rows run alone."""
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
