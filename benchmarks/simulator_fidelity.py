"""How well does edgekd's device simulator predict published on-device latencies?

    python benchmarks/simulator_fidelity.py [--quick] [--csv PATH] [--json PATH]

Builds each calibration row's architecture from code (random weights), exports it to ONNX
(int8 rows quantized to QDQ), simulates it on the row's device and runtime, and compares with
the published latency. Reports in-sample error (factors fitted on all rows), leave-one-
device-out (fit without a device, predict it: a runtime whose only device is held out falls
back to its priors) and leave-one-model-out. ``--quick`` skips Inception-v3 (the slowest
export) and the leave-one-model-out pass. Prints tables; writes every number to the JSON.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgekd.fileio import atomic_write_json  # noqa: E402
from edgekd.profile import calibration as cal  # noqa: E402
from edgekd.profile.targets import load_runtimes  # noqa: E402

DEFAULT_CSV = ROOT.parent / "shared" / "device-data" / "calibration.csv"
COLS = ["model", "device", "runtime", "precision", "published_ms", "predicted_ms", "error_pct"]


def _section(title: str, results: list[dict], cols: list[str]) -> dict:
    st = cal.stats(results)
    print(f"\n== {title} ==")
    print(cal.format_table(results, cols))
    print(f"median |error| {st['median_abs_error_pct']}%, within +-25%: "
          f"{st['within_25_pct']:.0%} of {st['rows']} rows")  # fmt: skip
    return {"rows": results, "stats": st}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = cal.read_rows(a.csv)
    if a.quick:
        rows = [r for r in rows if r.model != "inception_v3"]
    summaries = cal.summaries_for(rows)
    shipped = load_runtimes()  # factors as calibrated and shipped in targets/runtimes.yaml
    out: dict = {"csv": str(a.csv), "quick": a.quick}
    shipped_rows = cal.evaluate(shipped, rows, summaries)
    energy_cols = [*COLS, "published_mj", "predicted_mj"]
    out["shipped"] = _section("shipped factors (targets/runtimes.yaml)", shipped_rows, energy_cols)
    fitted = cal.fit_all(shipped, rows, summaries)
    in_sample = cal.evaluate(fitted, rows, summaries)
    out["in_sample"] = _section("refit on these rows (in-sample)", in_sample, COLS)
    lodo = cal.held_out(shipped, rows, summaries, "device")
    out["leave_one_device_out"] = _section("leave-one-device-out", lodo, ["held_out", *COLS])
    if not a.quick:
        lomo = cal.held_out(shipped, rows, summaries, "model")
        out["leave_one_model_out"] = _section("leave-one-model-out", lomo, ["held_out", *COLS])
    out["fitted_factors"] = {
        n: {k: getattr(rt.efficiency, k) for k in rt.fitted} for n, rt in fitted.items()
    }
    out["fitted_factor_count"] = {n: len(rt.fitted) for n, rt in fitted.items()}
    out["seconds"] = round(time.perf_counter() - t0, 2)
    print(f"\nfitted factors per runtime: {out['fitted_factor_count']}; {out['seconds']} s")
    if a.json:
        atomic_write_json(a.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
