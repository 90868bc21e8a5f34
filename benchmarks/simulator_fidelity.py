"""How well does edgekd's device simulator predict published on-device latencies?

    python benchmarks/simulator_fidelity.py [--quick] [--csv PATH] [--json PATH]

Reads benchmarks/data/calibration.csv (published rows, each with its source, split into
``fit`` and ``validation``), builds each row's architecture from code (random weights),
exports it to ONNX (int8 rows quantized to QDQ), simulates it on the row's device and
runtime and compares with the published latency. Reports:

- shipped factors (targets/runtimes.yaml, fitted by calibrate.py on the fit rows) on the fit
  rows (in-sample) and on the validation rows (never fitted: out of sample);
- leave-one-device-out, leave-one-model-out and leave-one-core-type-out: refit on the fit
  rows of the other groups, predict every row of the held-out group; each row's band comes
  from the other groups' held-out errors of its runtime, and band coverage is the share of
  published values inside it.

The priors (target peaks, cores.yaml shares, class factors) come from documents and were not
fitted to any row, so a held-out device is predicted from its datasheet and the runtime
factors fitted on other devices. ``--quick`` skips Inception-v3 and leave-one-model-out.
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

DEFAULT_CSV = ROOT / "benchmarks" / "data" / "calibration.csv"
COLS = ["model", "device", "runtime", "precision", "threads", "published_ms", "predicted_ms",
        "error_pct", "in_band"]  # fmt: skip


def _section(title: str, results: list[dict], cols: list[str]) -> dict:
    st = cal.stats(results)
    print(f"\n== {title} ==")
    print(cal.format_table(results, cols))
    print(f"median |error| {st['median_abs_error_pct']}%, within +-25%: "
          f"{st['within_25_pct']:.0%}, band coverage {st['band_coverage']:.0%} "
          f"of {st['rows']} rows")  # fmt: skip
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
    shipped = load_runtimes()
    out: dict = {"csv": str(a.csv), "quick": a.quick, "method": __doc__}
    fit_rows = [r for r in rows if r.split == "fit"]
    val_rows = [r for r in rows if r.split == "validation"]
    out["in_sample"] = _section(
        "shipped factors on the fit rows (in-sample)", cal.evaluate(shipped, fit_rows, summaries),
        COLS,
    )  # fmt: skip
    out["validation"] = _section(
        "shipped factors on the validation rows (out of sample)",
        cal.evaluate(shipped, val_rows, summaries), COLS,
    )  # fmt: skip
    groups = [("device", "leave-one-device-out"), ("core", "leave-one-core-type-out")]
    if not a.quick:
        groups.insert(1, ("model", "leave-one-model-out"))
    for key, title in groups:
        res = cal.rebanded(cal.held_out(shipped, rows, summaries, key))
        out[title.replace("-", "_")] = _section(title, res, ["held_out", *COLS, "band"])
    out["summary"] = {k: v["stats"] for k, v in out.items() if isinstance(v, dict) and "stats" in v}
    out["fitted_factors"] = {
        n: {k: getattr(rt.efficiency, k) for k in rt.fitted} for n, rt in shipped.items()
    }
    out["seconds"] = round(time.perf_counter() - t0, 2)
    print("\n| evaluation | rows | median abs. error | within ±25% | band coverage |")
    print("|---|---:|---:|---:|---:|")
    for k, st in out["summary"].items():
        print(f"| {k} | {st['rows']} | {st['median_abs_error_pct']}% | "
              f"{st['within_25_pct']:.0%} | {st['band_coverage']:.0%} |")  # fmt: skip
    print(f"\n{out['seconds']} s")
    if a.json:
        atomic_write_json(a.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
