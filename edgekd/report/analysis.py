"""What a report concludes from a manifest: verdict matrix, lineage deltas, the distilled /
baseline / teacher comparison, budget violations with their causes, budget use and Pareto
fronts (the artifact to ship per target is ``ship.py``'s). Pure functions over plain dicts,
so ``report.json`` holds every number the Markdown and HTML show.
"""

from __future__ import annotations

from typing import Any

from edgekd.report.ship import shown

# Budget key -> key of the predicted value it limits (profile/budgets.py judges these).
BUDGET_TO_PREDICTED = {
    "latency_ms": "latency_ms",
    "ram_bytes": "peak_ram_bytes",
    "flash_bytes": "flash_bytes",
    "energy_mj": "energy_mj",
}
VERDICTS = ("pass", "fail", "unsupported")


def target_rows(profiles: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(artifact id, target row) for every profiled artifact x target."""
    return [(p["artifact"], t) for p in profiles for t in p.get("targets") or []]


def targets(profiles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Targets in first-seen order, with the budget and runtime they were judged by."""
    seen: dict[str, dict[str, Any]] = {}
    for _, t in target_rows(profiles):
        seen.setdefault(
            t["name"],
            {
                "name": t["name"],
                "title": t.get("title", t["name"]),
                "kind": t.get("kind"),
                "runtime": t.get("runtime"),
                "budget": t.get("budget") or {},
            },
        )
    return list(seen.values())


def _min_headroom(headroom: dict[str, float]) -> dict[str, Any] | None:
    if not headroom:
        return None
    key = min(headroom, key=lambda k: headroom[k])
    return {"key": key, "pct": headroom[key]}


def verdicts(profiles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per artifact x target: verdict, headroom per budget, and the tightest one."""
    return [
        {
            "artifact": art,
            "target": t["name"],
            "runtime": t.get("runtime"),
            "verdict": t.get("verdict"),
            "headroom": t.get("headroom") or {},
            "min_headroom": _min_headroom(t.get("headroom") or {}),
        }
        for art, t in target_rows(profiles)
    ]


def lineage_order(artifacts: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    """Artifacts depth-first from each root (no parent, or a parent not in the run)."""
    ids = {a["id"] for a in artifacts}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for a in artifacts:
        parent = a.get("parent") if a.get("parent") in ids else None
        children.setdefault(parent, []).append(a)
    out: list[tuple[dict[str, Any], int]] = []
    seen: set[str] = set()

    def walk(parent: str | None, depth: int) -> None:
        for a in children.get(parent, []):
            if a["id"] in seen:  # a cycle in a hand-edited manifest: show it once
                continue
            seen.add(a["id"])
            out.append((a, depth))
            walk(a["id"], depth + 1)

    walk(None, 0)
    out += [(a, 0) for a in artifacts if a["id"] not in seen]
    return out


def _latency(profiles: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """artifact id -> target -> predicted latency (supported targets only)."""
    out: dict[str, dict[str, float]] = {}
    for art, t in target_rows(profiles):
        lat = (t.get("predicted") or {}).get("latency_ms")
        if lat is not None and t.get("verdict") != "unsupported":
            out.setdefault(art, {})[t["name"]] = lat
    return out


def _rel(new: float | None, old: float | None) -> float | None:
    if new is None or old is None or old == 0:
        return None
    return round((new - old) / old * 100, 2)


def lineage(
    artifacts: list[dict[str, Any]], profiles: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each artifact with its change from its parent: accuracy (points), size and latency (%)."""
    by_id = {a["id"]: a for a in artifacts}
    lat = _latency(profiles)
    rows = []
    for a, depth in lineage_order(artifacts):
        parent = by_id.get(a.get("parent") or "")
        acc = (a.get("metrics") or {}).get("accuracy")
        p_acc = (parent.get("metrics") or {}).get("accuracy") if parent else None
        mine, theirs = lat.get(a["id"], {}), lat.get(parent["id"], {}) if parent else {}
        rows.append(
            {
                "id": a["id"],
                "parent": a.get("parent"),
                "depth": depth,
                "role": a.get("role"),
                "stage": a.get("stage"),
                "format": a.get("format"),
                "framework": a.get("framework"),
                "precision": a.get("precision"),
                "status": a.get("status"),
                "accuracy": acc,
                "delta_accuracy_pp": None
                if acc is None or p_acc is None
                else round((acc - p_acc) * 100, 2),
                "file_bytes": a.get("file_bytes"),
                "delta_file_bytes_pct": _rel(
                    a.get("file_bytes"), parent.get("file_bytes") if parent else None
                ),
                "latency_ms": mine,
                "delta_latency_pct": {k: _rel(v, theirs.get(k)) for k, v in mine.items()},
            }
        )
    return rows


def _pick(artifacts: list[dict[str, Any]], role: str, stage: str | None = None) -> dict | None:
    for a in artifacts:
        if a.get("role") == role and (stage is None or a.get("stage") == stage):
            return a
    return None


def comparison(artifacts: list[dict[str, Any]]) -> dict[str, Any]:
    """Distilled student vs the same architecture trained on labels only vs the teacher."""
    picks = {
        "teacher": _pick(artifacts, "teacher"),
        "distilled": _pick(artifacts, "student", "distill") or _pick(artifacts, "student"),
        "baseline": _pick(artifacts, "baseline"),
    }
    rows = {}
    for name, a in picks.items():
        if a is None:
            continue
        m = a.get("metrics") or {}
        rows[name] = {
            "artifact": a["id"],
            "accuracy": m.get("accuracy"),
            "macro_f1": m.get("macro_f1"),
            "agreement": m.get("agreement"),
            "params": a.get("params"),
            "macs": a.get("macs"),
            "file_bytes": a.get("file_bytes"),
        }

    def acc(name: str) -> float | None:
        return rows.get(name, {}).get("accuracy")

    def diff(x: str, y: str) -> float | None:
        ax, ay = acc(x), acc(y)
        return None if ax is None or ay is None else round((ax - ay) * 100, 2)

    def ratio(key: str) -> float | None:
        t, s = rows.get("teacher", {}).get(key), rows.get("distilled", {}).get(key)
        return round(t / s, 2) if t and s else None

    return {
        "rows": rows,
        "distillation_gain_pp": diff("distilled", "baseline"),
        "gap_to_teacher_pp": diff("distilled", "teacher"),
        "params_ratio": ratio("params"),
        "macs_ratio": ratio("macs"),
    }


def _causes(key: str, t: dict[str, Any], model: dict[str, Any], n: int = 3) -> list[str]:
    """What drives a violated budget: the slowest ops for time and energy; the memory parts
    for RAM and flash (the simulator has no per-op memory breakdown)."""
    if key in ("latency_ms", "energy_mj"):
        ops = sorted(t.get("top_ops") or [], key=lambda o: -(o.get("latency_ms") or 0))[:n]
        total = (t.get("predicted") or {}).get("latency_ms") or 0
        return [
            f"{o['name']} ({o['op_type']}): {o['latency_ms']:.4g} ms"
            + (f", {100 * o['latency_ms'] / total:.0f}%" if total else "")
            for o in ops
            if o.get("latency_ms")
        ]
    peak = model.get("memory_peak")
    if key == "ram_bytes" and peak:
        return [
            f"{r['tensor'][-48:]}: {r['bytes']} B from {r['producer']}"
            for r in (peak.get("live") or [])[:n]
        ] + [
            f"activation peak {peak['peak_bytes']} B at "
            f"{peak['op']['op_type']}#{peak['op']['index']}"
        ]
    if key == "ram_bytes" and model.get("peak_activation_bytes") is not None:
        return [
            f"peak activations {model['peak_activation_bytes']} B",
            f"weights {model.get('weight_bytes')} B",
        ]
    if key == "flash_bytes" and model.get("weight_bytes") is not None:
        return [f"weights {model['weight_bytes']} B (file {model.get('file_bytes')} B)"]
    if key == "min_accuracy":
        return ["accuracy of the artifact below the target's minimum"]
    return []


def violations(profiles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every budget violation, and every unsupported combination, with what causes it."""
    out = []
    for p in profiles:
        model = p.get("model") or {}
        for t in p.get("targets") or []:
            for v in t.get("violations") or []:
                out.append(
                    {
                        "artifact": p["artifact"],
                        "target": t["name"],
                        "kind": "budget",
                        "key": v.get("key"),
                        "value": v.get("value"),
                        "limit": v.get("limit"),
                        "message": v.get("message"),
                        "causes": _causes(v.get("key", ""), t, model),
                    }
                )
            if t.get("verdict") == "unsupported":
                out.append(
                    {
                        "artifact": p["artifact"],
                        "target": t["name"],
                        "kind": "unsupported",
                        "key": "runtime",
                        "value": None,
                        "limit": None,
                        "message": f"{t.get('runtime')} cannot run this artifact on {t['name']}",
                        "causes": list(t.get("unsupported") or []),
                    }
                )
    return out


def budget_use(profiles: list[dict[str, Any]], picks: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per target, the chosen artifact's predicted use of each budget, in % (100 = at limit)."""
    out: dict[str, dict[str, Any]] = {}
    for art, t in target_rows(profiles):
        if shown(picks.get(t["name"]) or {}) != art:
            continue
        pred, budget = t.get("predicted") or {}, t.get("budget") or {}
        use = {}
        for bkey, pkey in BUDGET_TO_PREDICTED.items():
            limit, value = budget.get(bkey), pred.get(pkey)
            if limit and value is not None:
                use[bkey] = round(100 * value / limit, 4)
        out[t["name"]] = {"artifact": art, "use_pct": use}
    return out


def _dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """(latency, accuracy) ``a`` is at least as fast and as accurate as ``b``, and better in one."""
    return a[0] <= b[0] and a[1] >= b[1] and (a[0] < b[0] or a[1] > b[1])


def pareto_front(
    artifacts: list[dict[str, Any]], profiles: list[dict[str, Any]]
) -> dict[str, list[str]]:
    """Per target, artifacts no other beats on both accuracy and predicted latency."""
    acc: dict[str, float] = {
        a["id"]: a["metrics"]["accuracy"]
        for a in artifacts
        if (a.get("metrics") or {}).get("accuracy") is not None
    }
    lat = _latency(profiles)
    out: dict[str, list[str]] = {}
    for tgt in targets(profiles):
        pts = [
            (aid, by_t[tgt["name"]], acc[aid])
            for aid, by_t in lat.items()
            if tgt["name"] in by_t and aid in acc
        ]
        front = [
            aid
            for aid, lx, ax in pts
            if not any(_dominates((ly, ay), (lx, ax)) for bid, ly, ay in pts if bid != aid)
        ]
        out[tgt["name"]] = sorted(front, key=lambda a: lat[a][tgt["name"]])
    return out


def training(artifacts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Training histories (loss and val accuracy per epoch) of the distilled and baseline."""
    out = {}
    for a in artifacts:
        hist = (a.get("extra") or {}).get("history")
        if hist:
            name = "distilled" if a.get("role") == "student" else a.get("role") or a["id"]
            out[name] = {"artifact": a["id"], **hist}
    return out


def memory_peaks(profiles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per profiled .tflite artifact: the op where live activations peak, the tensors live
    there (largest first, with the op producing each) and the TFLM arena when measured."""
    out = []
    for p in profiles:
        model = p.get("model") or {}
        peak = model.get("memory_peak")
        if peak:
            out.append(
                {"artifact": p.get("artifact"), "peak_bytes": peak["peak_bytes"],
                 "op": peak["op"], "live": peak["live"],
                 "tflm_arena_bytes": model.get("tflm_arena_bytes")}
            )  # fmt: skip
    return out
