"""Fuzz every file edgekd reads through the real CLI: truncated and mutated copies of a valid
file of each kind in ``tests/fuzz/harness.py``'s ``FUZZ_TARGETS``.

Every case must end in exit 2 with one message naming the file, or exit 0 with a right output;
a traceback, exit 1, a timeout or an exception escaping the CLI is a failure (listed with the
mutation that reproduces it). Seeded: the same ``--seed`` replays the same cases.

    python benchmarks/fuzz_loaders.py [--quick] [--json PATH] [--seed N] [--kind KIND]...

A user would otherwise meet these files with the libraries' own errors (protobuf DecodeError,
flatbuffers IndexError, zipfile BadZipFile...) and a traceback; the "other" column counts the
cases where edgekd still does that.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import print_table, write_json  # noqa: E402

from tests.fuzz.harness import (  # noqa: E402
    FUZZ_TARGETS,
    OPS,
    fresh_root,
    mutate,
    run_case,
    seed_dir,
    truncation_points,
)


def random_ops(rng: random.Random) -> list[tuple[int, int, int]]:
    """One to three mutations, positions anywhere in the file."""
    return [
        (rng.randrange(len(OPS)), rng.randrange(1 << 20), rng.randrange(1 << 12))
        for _ in range(rng.randint(1, 3))
    ]


def fuzz_kind(kind: str, root: Path, cases: int, seed: int) -> dict[str, Any]:
    seed_file = seed_dir(kind, root)
    valid = seed_file.read_bytes()
    rng = random.Random(f"{seed}:{kind}")
    plan: list[tuple[str, list[tuple[int, int, int]]]] = [("valid", [])]
    plan += [
        (f"truncate@{p}", [(OPS.index("truncate"), p, 0)]) for p in truncation_points(len(valid))
    ]
    plan += [(f"mutate#{i}", random_ops(rng)) for i in range(cases)]
    codes: Counter[int] = Counter()
    failures = []
    start = time.perf_counter()
    for name, ops in plan:
        data = mutate(valid, ops)
        outcome = run_case(kind, seed_file, data)
        codes[outcome.exit_code] += 1
        if outcome.failure is not None:
            failures.append(
                {"case": name, "ops": ops, "exit_code": outcome.exit_code,
                 "failure": outcome.failure, "message": outcome.message[:400]}
            )  # fmt: skip
    seconds = time.perf_counter() - start
    return {
        "kind": kind,
        "file_bytes": len(valid),
        "cases": len(plan),
        "exit_codes": {str(k): v for k, v in sorted(codes.items())},
        "failures": failures,
        "seconds": round(seconds, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="about a minute: fewer cases per kind")
    ap.add_argument("--json", type=Path, help="write every number to this JSON file")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kind", action="append", choices=sorted(FUZZ_TARGETS), help="only these")
    args = ap.parse_args()
    root = fresh_root()
    results = []
    for kind in args.kind or list(FUZZ_TARGETS):
        slow = FUZZ_TARGETS[kind].slow
        cases = (2 if slow else 12) if args.quick else (25 if slow else 200)
        results.append(fuzz_kind(kind, root, cases, args.seed))
        r = results[-1]
        print(f"{kind}: {r['cases']} cases, {len(r['failures'])} failures, {r['seconds']} s")
    rows = [
        [
            r["kind"], r["cases"],
            " ".join(f"{k}:{v}" for k, v in r["exit_codes"].items()),
            len(r["failures"]), r["seconds"],
        ]
        for r in results
    ]  # fmt: skip
    print_table(
        f"fuzzed loaders (seed {args.seed}; seconds are wall time on a shared machine, noisy)",
        ["kind", "cases", "exit codes (code:count)", "failures", "seconds"],
        rows,
    )
    for r in results:
        for f in r["failures"][:5]:
            print(f"  {r['kind']} {f['case']} ops={f['ops']}: {f['failure']}")
    write_json(
        args.json,
        {"seed": args.seed, "quick": args.quick, "root": str(root), "kinds": results},
    )
    if any(r["failures"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
