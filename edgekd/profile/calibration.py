"""Fit per-runtime efficiency factors to published on-device latencies, and validate.

Each runtime has at most three fitted factors (its ``fitted`` list in runtimes.yaml, e.g.
int8 dense efficiency, depthwise multiplier, gemm multiplier); they are fitted by least
squares on log latency (relative error, so a 1 ms and a 700 ms row weigh the same) over
the ``fit`` rows of that runtime, across models and devices: never per model or device.
Everything else in the cost model is a prior from a document (targets/*.yaml, cores.yaml).
Validation holds out one group at a time (device, model, core type), refits without it and
predicts it; band coverage is the share of published values inside the predicted band.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekd.profile.graph import GraphSummary
from edgekd.profile.schema import Runtime, Target
from edgekd.profile.simulate import simulate
from edgekd.profile.targets import load_target

# MAP fit in log space: a published row is trusted to ~20% (log sigma 0.2) and a prior
# factor to within x3 (log sigma ln 3), so a factor few rows inform stays near its prior.
MEAS_SIGMA = 0.2
PRIOR_SIGMA = math.log(3.0)


@dataclass
class Row:
    """One published measurement (calibration.csv)."""

    model: str
    device: str
    runtime: str
    precision: str
    threads: int
    latency_ms: float
    energy_mj: float | None
    source: str
    split: str = "fit"
    stack: str = ""
    kernel_path: str = ""

    @property
    def core(self) -> str:
        """Core type of the device's fastest cluster (for leave-one-core-type-out)."""
        t = load_target(self.device)
        return t.fastest_cores(1)[0].core or t.fastest_cores(1)[0].uarch


def read_rows(path: str | Path) -> list[Row]:
    """Rows of calibration.csv (``#`` lines are comments)."""
    with open(path, encoding="utf-8") as f:
        lines = [ln for ln in f if ln.strip() and not ln.startswith("#")]
    rows = []
    for r in csv.DictReader(lines):
        rows.append(
            Row(
                model=r["model"],
                device=r["device"],
                runtime=r["runtime"],
                precision=r["precision"],
                threads=int(r["threads"] or 1),
                latency_ms=float(r["latency_ms"]),
                energy_mj=float(r["energy_mj"]) if r.get("energy_mj") else None,
                source=r["source"],
                split=(r.get("split") or "fit").strip(),
                stack=(r.get("stack") or "").strip(),
                kernel_path=(r.get("kernel_path") or "").strip(),
            )
        )
    return rows


def summaries_for(rows: list[Row]) -> dict[tuple[str, str], GraphSummary]:
    """Static summaries of each (architecture, precision) in the rows, from ONNX exports
    (int8 rows are quantized to QDQ int8); the simulator reads either format."""
    from edgekd.models.reference_export import reference_onnx
    from edgekd.profile.static import analyze

    out: dict[tuple[str, str], GraphSummary] = {}
    for r in rows:
        key = (r.model, r.precision)
        if key not in out:
            out[key] = analyze(reference_onnx(r.model, int8=r.precision == "int8"))
    return out


def with_factors(rt: Runtime, factors: dict[str, float]) -> Runtime:
    """A copy of ``rt`` with efficiency fields replaced."""
    return rt.model_copy(update={"efficiency": rt.efficiency.model_copy(update=factors)})


def row_target(row: Row) -> Target:
    """The row's device; with ``kernel_path: no-sdot`` the int8 peak of each core is that of
    the widening-multiply path (2x the fp32 FMA rate) the measured kernels used instead of SDOT."""
    t = load_target(row.device)
    if row.kernel_path != "no-sdot":
        return t
    cores = [
        c.model_copy(
            update={
                "macs_per_cycle": c.macs_per_cycle.model_copy(
                    update={"int8": 2 * c.macs_per_cycle.fp32}
                )
            }
        )
        for c in t.cores
    ]
    return t.model_copy(update={"cores": cores})


def predict_ms(row: Row, summary: GraphSummary, rt: Runtime) -> float:
    return simulate(summary, row_target(row), rt, row.threads).latency_ms


def fit_runtime(
    rt: Runtime, rows: list[Row], summaries: dict[tuple[str, str], GraphSummary]
) -> dict[str, float]:
    """MAP fit of ``rt.fitted`` factors: least squares on log latency plus a log-normal
    prior around the current values; the prior itself when there are no rows."""
    names = list(rt.fitted)
    prior = {n: float(rt.priors.get(n, getattr(rt.efficiency, n))) for n in names}
    if not rows or not names:
        return prior
    from scipy.optimize import least_squares

    x0 = [math.log(prior[n]) for n in names]

    def residuals(logs: Any) -> list[float]:
        cand = with_factors(rt, {n: math.exp(v) for n, v in zip(names, logs, strict=True)})
        fit = [
            math.log(predict_ms(r, summaries[(r.model, r.precision)], cand) / r.latency_ms)
            / MEAS_SIGMA
            for r in rows
        ]
        return fit + [(v - v0) / PRIOR_SIGMA for v, v0 in zip(logs, x0, strict=True)]

    # a factor no row informs (e.g. fp32 with only int8 rows) stays at its prior
    informed = [_informs(n, rows, summaries) for n in names]
    lo = [v - 1e-9 if not ok else math.log(1e-4) for v, ok in zip(x0, informed, strict=True)]
    hi = [v + 1e-9 if not ok else math.log(50.0) for v, ok in zip(x0, informed, strict=True)]
    res = least_squares(residuals, x0, bounds=(lo, hi), method="trf", x_scale=1.0)
    return {n: round(math.exp(v), 5) for n, v in zip(names, res.x, strict=True)}


def _informs(factor: str, rows: list[Row], summaries: dict[tuple[str, str], GraphSummary]) -> bool:
    if factor in ("fp32", "fp16", "int8"):
        return any(r.precision == factor for r in rows)
    classes = {op.op_class for r in rows for op in summaries[(r.model, r.precision)].ops}
    return factor in classes or factor == "other"


def band_from(errors: list[float], coverage: float = 0.9) -> float:
    """Multiplicative band (x/÷) covering ``coverage`` of held-out ratios predicted /
    published (the empirical quantile of |log ratio|), at least x1.25."""
    logs = sorted(abs(math.log(e)) for e in errors if e > 0)
    if not logs:
        return 1.5
    k = min(len(logs) - 1, max(0, math.ceil(coverage * len(logs)) - 1))
    return round(max(1.25, math.exp(logs[k])), 3)


def fit_all(
    runtimes: dict[str, Runtime], rows: list[Row], summaries: dict[tuple[str, str], GraphSummary]
) -> dict[str, Runtime]:
    """Every runtime refitted on its rows (runtimes without rows keep their priors)."""
    out = {}
    for name, rt in runtimes.items():
        mine = [r for r in rows if r.runtime == name and r.split == "fit"]
        out[name] = with_factors(rt, fit_runtime(rt, mine, summaries))
    return out


def evaluate(
    runtimes: dict[str, Runtime], rows: list[Row], summaries: dict[tuple[str, str], GraphSummary]
) -> list[dict[str, Any]]:
    """Predicted vs published per row, with signed % error (predicted / published - 1)."""
    out = []
    for r in rows:
        s = summaries[(r.model, r.precision)]
        pred = simulate(s, row_target(r), runtimes[r.runtime], r.threads)
        out.append(
            {
                "model": r.model, "device": r.device, "runtime": r.runtime,
                "precision": r.precision, "threads": r.threads, "macs": s.macs,
                "split": r.split, "core": r.core,
                "published_ms": r.latency_ms, "predicted_ms": round(pred.latency_ms, 4),
                "low_ms": round(pred.latency_ms_low, 4), "high_ms": round(pred.latency_ms_high, 4),
                "in_band": pred.latency_ms_low <= r.latency_ms <= pred.latency_ms_high,
                "error_pct": round((pred.latency_ms / r.latency_ms - 1) * 100, 2),
                "published_mj": r.energy_mj, "predicted_mj": round(pred.energy_mj, 4),
            }
        )  # fmt: skip
    return out


def held_out(
    runtimes: dict[str, Runtime],
    rows: list[Row],
    summaries: dict[tuple[str, str], GraphSummary],
    key: str,
) -> list[dict[str, Any]]:
    """Leave-one-group-out: for each value of ``key`` ('device', 'model' or 'core'), fit on
    the other groups' ``fit`` rows and predict every row of the group, with bands from the
    training rows' own held-out errors (a runtime left with no rows keeps its priors)."""
    out: list[dict[str, Any]] = []
    for value in sorted({getattr(r, key) for r in rows}):
        train = [r for r in rows if getattr(r, key) != value and r.split == "fit"]
        test = [r for r in rows if getattr(r, key) == value]
        fitted = fit_all(runtimes, train, summaries)
        for e in evaluate(fitted, test, summaries):
            e["held_out"] = value
            out.append(e)
    return out


def rebanded(results: list[dict[str, Any]], coverage: float = 0.9) -> list[dict[str, Any]]:
    """Held-out results with each row's band set from the OTHER groups' held-out errors of
    the same runtime (so a group's own error never widens its own band)."""
    out = []
    for e in results:
        others = [
            1 + o["error_pct"] / 100
            for o in results
            if o["runtime"] == e["runtime"]
            and o["held_out"] != e["held_out"]
            and o["split"] == "fit"
        ]
        band = band_from(others, coverage)
        low, high = e["predicted_ms"] / band, e["predicted_ms"] * band
        out.append({**e, "band": band, "low_ms": round(low, 4), "high_ms": round(high, 4),
                    "in_band": low <= e["published_ms"] <= high})  # fmt: skip
    return out


def stats(results: list[dict[str, Any]]) -> dict[str, float]:
    """Median absolute % error, share of rows within +-25%, band coverage."""
    errs = sorted(abs(e["error_pct"]) for e in results)
    if not errs:
        return {
            "median_abs_error_pct": float("nan"), "within_25_pct": float("nan"),
            "band_coverage": float("nan"), "rows": 0,
        }  # fmt: skip
    mid = len(errs) // 2
    median = errs[mid] if len(errs) % 2 else (errs[mid - 1] + errs[mid]) / 2
    within = sum(e <= 25 for e in errs) / len(errs)
    banded = [e["in_band"] for e in results if "in_band" in e]
    return {
        "median_abs_error_pct": round(median, 2),
        "within_25_pct": round(within, 3),
        "band_coverage": round(sum(banded) / len(banded), 3) if banded else float("nan"),
        "rows": len(errs),
    }


def write_factors(path: str | Path, runtimes: dict[str, Runtime], bands: dict[str, float]) -> None:
    """Rewrite the ``efficiency:`` and ``band:`` lines of each runtime in runtimes.yaml,
    keeping its comments and sources (atomic write)."""
    from edgekd.fileio import atomic_write_text

    p = Path(path)
    section = None
    out = []
    for line in p.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith((" ", "#")) and line.rstrip().endswith(":"):
            section = line.rstrip()[:-1]
        stripped = line.strip()
        top = line.startswith("  ") and not line.startswith("   ")
        if section in runtimes and top and stripped.startswith("efficiency:"):
            eff = runtimes[section].efficiency.model_dump()
            body = ", ".join(f"{k}: {round(v, 5)}" for k, v in eff.items())
            line = f"  efficiency: {{{body}}}"
        elif section in bands and top and stripped.startswith("band:"):
            line = f"  band: {bands[section]}"
        out.append(line)
    atomic_write_text(p, "\n".join(out) + "\n")


def format_table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    """Plain-text table of the given columns."""
    cells = [[_cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
