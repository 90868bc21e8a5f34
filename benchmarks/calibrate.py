"""Fit edgekd's per-runtime efficiency factors to published on-device latencies.

    python benchmarks/calibrate.py [--csv PATH] [--runtimes PATH] [--json PATH] [--dry-run]

Reads benchmarks/data/calibration.csv (published rows with their sources), fits at most
three factors per runtime (listed under ``fitted`` in targets/runtimes.yaml) by least squares
on log latency over the ``fit`` rows, sets each runtime's uncertainty band to cover 90% of its
leave-one-device-out errors, writes the factors and bands back into targets/runtimes.yaml,
prints a table and writes every number to JSON.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgekd.fileio import atomic_write_json  # noqa: E402
from edgekd.profile import calibration as cal  # noqa: E402
from edgekd.profile.targets import load_runtimes  # noqa: E402

DEFAULT_CSV = ROOT / "benchmarks" / "data" / "calibration.csv"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--runtimes", type=Path, default=ROOT / "targets" / "runtimes.yaml")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--dry-run", action="store_true", help="fit and print, write nothing")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = cal.read_rows(a.csv)
    summaries = cal.summaries_for(rows)
    priors = load_runtimes(a.runtimes)
    fitted = cal.fit_all(priors, rows, summaries)
    lodo = cal.held_out(priors, rows, summaries, "device")
    bands = {}
    for name in fitted:
        errs = [
            1 + e["error_pct"] / 100 for e in lodo if e["runtime"] == name and e["split"] == "fit"
        ]
        if errs:
            bands[name] = min(3.0, cal.band_from(errs, 0.9))
    report = []
    for name, rt in fitted.items():
        prior = priors[name]
        for k in prior.fitted:
            report.append(
                {
                    "runtime": name,
                    "factor": k,
                    "prior": prior.priors.get(k, getattr(prior.efficiency, k)),
                    "fitted": getattr(rt.efficiency, k),
                    "rows": sum(r.runtime == name and r.split == "fit" for r in rows),
                    "band": bands.get(name, prior.band),
                }
            )
    print(cal.format_table(report, ["runtime", "factor", "prior", "fitted", "rows", "band"]))
    res = cal.evaluate(fitted, [r for r in rows if r.split == "fit"], summaries)
    cols = ["model", "device", "runtime", "precision", "published_ms", "predicted_ms", "error_pct"]
    print()
    print(cal.format_table(res, cols))
    st = cal.stats(res)
    print(f"\nin-sample: median |error| {st['median_abs_error_pct']}%, "
          f"within +-25%: {st['within_25_pct']:.0%} of {st['rows']} rows")  # fmt: skip
    if not a.dry_run:
        cal.write_factors(a.runtimes, fitted, bands)
        print(f"wrote {a.runtimes}")
    if a.json:
        log_rmse = math.sqrt(sum(math.log(1 + e["error_pct"] / 100) ** 2 for e in res) / len(res))
        atomic_write_json(
            a.json,
            {
                "csv": str(a.csv),
                "factors": report,
                "rows": res,
                "stats": st,
                "log_rmse": log_rmse,
                "bands": bands,
                "seconds": round(time.perf_counter() - t0, 2),
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
