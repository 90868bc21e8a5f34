"""``edgekd fit`` vs shrinking the default student by hand, on digits for ``nano-33-ble``
with a tight latency budget.

    python benchmarks/fit_digits.py [--quick] [--latency-ms 1.0] [--json PATH]

By hand: what a user does without a search. Keep the default student's depth, pruning and
int8 precision and shrink its width (16, 12, 8, 6, 4) until the simulator predicts that it
fits the budget, then run ``edgekd compress`` on it. ``edgekd fit``: the Optuna search over
width, depth, pruning ratio and precision with the same training settings, then the same
pipeline on its choice. Both are judged by what ships: the artifact the report recommends
for the target, its test accuracy (measured by its own runtime) and its verdict on the
exported file. ``--quick`` trains for fewer epochs and tries fewer candidates.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import print_table, write_json  # noqa: E402

TARGET = "nano-33-ble"
HAND_WIDTHS = (16, 12, 8, 6, 4)


def settings(quick: bool) -> tuple[list[str], int, float]:
    """(recipe --set overrides, fit trials, fit time budget in minutes)."""
    if quick:
        return (
            [
                "distill.epochs=30",
                "prune.fine_tune.epochs=10",
                "distill.baseline=false",
            ],
            10,
            4,
        )
    return (
        ["distill.epochs=60", "prune.fine_tune.epochs=20", "distill.baseline=false"],
        20,
        8,
    )


def shipped(report: dict[str, Any]) -> dict[str, Any]:
    pick = report["chosen"].get(TARGET) or {}
    arts = {a["id"]: a for a in report["artifacts"]}
    art = arts.get(pick.get("artifact") or pick.get("closest") or "") or {}
    return {
        "artifact": art.get("id"),
        "fits": bool(pick.get("fits")),
        "test_accuracy": (art.get("metrics") or {}).get("accuracy"),
        "latency_ms": pick.get("latency_ms"),
        "file_bytes": art.get("file_bytes"),
    }


def by_hand(recipe: Any, budget: dict[str, float], out: Path) -> dict[str, Any]:
    """Shrink the default student's width until the estimate fits, then compress it."""
    from edgekd import compress
    from edgekd.fit.space import Candidate, estimate

    s, started = recipe.student, time.perf_counter()
    tried = []
    for width in HAND_WIDTHS:
        cand = Candidate(s.arch, width, s.depth, recipe.prune.sparsity, "int8")
        est = estimate(cand, (1, 8, 8), 10, TARGET, budget, out / "estimates")
        tried.append({"width": width, "latency_ms": est["latency_ms"], "fits": est["verdict"]})
        if est["verdict"] == "pass":
            break
    result = compress(cand.recipe(recipe, TARGET, budget), out_dir=out / "hand")
    return {
        "student": cand.label, "params": _params(result.report), "tried": tried,
        **shipped(result.report), "seconds": time.perf_counter() - started,
    }  # fmt: skip


def _params(report: dict[str, Any]) -> int | None:
    return next((a["params"] for a in report["artifacts"] if a["id"] == "student"), None)


def by_fit(
    recipe: Any, budget: dict[str, float], trials: int, minutes: float, out: Path
) -> dict[str, Any]:
    from edgekd.fit.api import fit

    started = time.perf_counter()
    result = fit(recipe, TARGET, budget, trials=trials, time_budget_min=minutes, out_dir=out)
    f = result.fit
    states = [t["outcome"] or t["state"] for t in f["trials"]]
    return {
        "student": f["chosen"]["candidate"], "params": _params(result.pipeline.report),
        **shipped(result.pipeline.report), "seconds": time.perf_counter() - started,
        "trials": len(f["trials"]),
        "trained": sum(s == "trained" for s in states),
        "skipped": sum(s.startswith("skipped") for s in states),
        "stopped": sum(s.startswith("stopped") for s in states),
        "rejected": f["rejected"],
    }  # fmt: skip


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer epochs and trials")
    ap.add_argument("--json", type=Path, help="write every number to this JSON file")
    ap.add_argument("--latency-ms", type=float, default=1.0, help="the latency budget")
    args = ap.parse_args()
    latency = args.latency_ms
    from edgekd.recipe.load import load_recipe

    sets, trials, minutes = settings(args.quick)
    recipe = load_recipe(None, sets)
    budget = {"latency_ms": latency}
    with tempfile.TemporaryDirectory() as tmp:
        hand = by_hand(recipe, budget, Path(tmp))
        print(f"by hand: {hand}", flush=True)
        found = by_fit(recipe, budget, trials, minutes, Path(tmp) / "fit")
    rows = [
        [name, r["student"], r["params"], r["artifact"],
         None if r["test_accuracy"] is None else round(100 * r["test_accuracy"], 2),
         r["latency_ms"], "pass" if r["fits"] else "fail", round(r["seconds"], 1)]
        for name, r in (("default student shrunk by hand", hand), ("edgekd fit", found))
    ]  # fmt: skip
    print_table(
        f"{TARGET}, latency budget {latency} ms ({'quick' if args.quick else 'full'}; "
        f"fit: {found['trials']} trials, {found['trained']} trained, {found['skipped']} "
        f"skipped before training, {found['stopped']} stopped early)",
        ["approach", "student", "params", "ships", "test acc %", "predicted ms", "verdict",
         "wall s"],
        rows,
    )  # fmt: skip
    write_json(args.json, {"target": TARGET, "budget": budget, "quick": args.quick,
                           "settings": sets, "hand": hand, "fit": found})  # fmt: skip


if __name__ == "__main__":
    main()
