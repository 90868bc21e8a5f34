"""Compression that pays, and the artifact to ship per target.

``compression_steps``: every compression step (pruning, quantization, an int8/fp16 export)
against its float reference: size, host speed (the measured p50) and the simulator's
latency per target, with each regression said in words. ``recommend``: per target the
most accurate artifact that passes every budget (ties: a file in the format the target's
runtime runs, then predicted latency), never one that regresses against a reference that
passes there too (larger, or slower on that target); when none fits, the closest one and
which budget fails by how much. Pure functions over the report's plain dicts.
"""

from __future__ import annotations

from typing import Any

# The host's p50 of a ~20 us model moves by several percent between two measurements on a
# loaded machine; "slower on the host" means slower by more than this factor. The simulator
# is deterministic, so any predicted slowdown counts.
HOST_SLOWER = 1.10
SIM_SLOWER = 1.0 + 1e-9


def _host_p50(profile: dict[str, Any] | None) -> float | None:
    return ((((profile or {}).get("host") or {}).get("latency_ms")) or {}).get("p50")


def _latency(profile: dict[str, Any] | None) -> dict[str, float]:
    """Target -> predicted latency where the artifact runs there."""
    out = {}
    for t in (profile or {}).get("targets") or []:
        lat = (t.get("predicted") or {}).get("latency_ms")
        if lat is not None and t.get("verdict") != "unsupported":
            out[t["name"]] = lat
    return out


def reference_of(a: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """What a compressed artifact is compared with: its parent when it has the same format
    (pruned torch vs torch, int8 ONNX vs ONNX), else its fp32 sibling of the same format
    (int8 TFLite vs fp32 TFLite, both exported from one torch model)."""
    parent = by_id.get(a.get("parent") or "")
    if parent is not None and parent.get("format") == a.get("format"):
        return parent
    for b in by_id.values():
        if (
            b["id"] != a["id"]
            and b.get("parent") == a.get("parent")
            and b.get("format") == a.get("format")
            and b.get("precision") == "fp32"
        ):
            return b
    return None


def is_compression(a: dict[str, Any]) -> bool:
    if a.get("format") == "keras" and a.get("stage") == "quantize":
        return False  # a TFMOT QAT checkpoint (fake-quant variables): its int8 file compresses
    return a.get("stage") in ("prune", "quantize") or (
        a.get("stage") == "export" and a.get("precision") in ("int8", "fp16")
    )


def _ratio(x: float | None, y: float | None) -> float | None:
    return None if x is None or not y else round(x / y, 4)


def compression_steps(
    artifacts: list[dict[str, Any]], raw: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One row per compression step: sizes, host p50s and predicted latencies of the
    artifact and its reference, and ``regressions`` (where it is larger or slower, in words).

    ``raw`` are the manifest's artifacts (with ``extra``: the profile, and for a pruned
    torch model the host latencies the prune pass measured before and after).
    """
    extra = {a["id"]: a.get("extra") or {} for a in raw}
    by_id = {a["id"]: a for a in artifacts}
    rows = []
    for a in artifacts:
        ref = reference_of(a, by_id) if is_compression(a) else None
        if ref is None or a.get("status") == "failed":
            continue
        mine, theirs = extra.get(a["id"], {}), extra.get(ref["id"], {})
        host, ref_host = _host_p50(mine.get("profile")), _host_p50(theirs.get("profile"))
        timed = (mine.get("prune") or {}).get("host_latency_ms") or {}
        if host is None and timed:  # torch models: timed by the prune pass, both in one process
            host, ref_host = timed.get("after"), timed.get("before")
        lat, ref_lat = _latency(mine.get("profile")), _latency(theirs.get("profile"))
        row: dict[str, Any] = {
            "artifact": a["id"],
            "reference": ref["id"],
            "step": a.get("stage"),
            "format": a.get("format"),
            "precision": a.get("precision"),
            "file_bytes": a.get("file_bytes"),
            "reference_file_bytes": ref.get("file_bytes"),
            "size_ratio": _ratio(a.get("file_bytes"), ref.get("file_bytes")),
            "host_p50_ms": host,
            "reference_host_p50_ms": ref_host,
            "host_speedup": _ratio(ref_host, host),
            "latency_ms": lat,
            "reference_latency_ms": {t: ref_lat[t] for t in lat if t in ref_lat},
            "speedup": {t: _ratio(ref_lat[t], lat[t]) for t in lat if t in ref_lat},
        }
        row["regressions"] = _regressions(row)
        rows.append(row)
    return rows


def _regressions(row: dict[str, Any]) -> list[dict[str, Any]]:
    """``{where: size|host|TARGET, message}`` for each way the step made things worse."""
    a, ref, out = row["artifact"], row["reference"], []
    size, ref_size = row["file_bytes"], row["reference_file_bytes"]
    if size is not None and ref_size is not None and size > ref_size:
        out.append(
            {"where": "size", "short": f"{size / ref_size:.2f}x larger than {ref}",
             "message": f"{a} is {size / ref_size:.2f}x larger than {ref} "
             f"({size:,} B vs {ref_size:,} B)"}
        )  # fmt: skip
    host, ref_host = row["host_p50_ms"], row["reference_host_p50_ms"]
    if host is not None and ref_host and host > ref_host * HOST_SLOWER:
        out.append(
            {"where": "host", "short": f"{host / ref_host:.2f}x slower than {ref} on this host",
             "message": f"{a} runs {host / ref_host:.2f}x slower than {ref} "
             f"on this host (p50 {host:.4g} ms vs {ref_host:.4g} ms)"}
        )  # fmt: skip
    for t, lat in row["latency_ms"].items():
        ref_lat = row["reference_latency_ms"].get(t)
        if ref_lat and lat > ref_lat * SIM_SLOWER:
            out.append(
                {"where": t, "short": f"predicted {lat / ref_lat:.2f}x slower than {ref} here",
                 "message": f"{a} is predicted {lat / ref_lat:.2f}x slower than "
                 f"{ref} on {t} ({lat:.4g} ms vs {ref_lat:.4g} ms)"}
            )  # fmt: skip
    return out


def _counts_here(step: dict[str, Any], target: str) -> list[dict[str, Any]]:
    """The regressions of a step that matter on ``target``: a larger file anywhere; slower in
    the simulation of this target; slower on the host only when the simulator has no
    latency of the pair here (the x86 host says little about an Arm core or an MCU)."""
    simulated = target in step["speedup"]
    return [
        r for r in step["regressions"]
        if r["where"] in ("size", target) or (r["where"] == "host" and not simulated)
    ]  # fmt: skip


def _over_pct(v: dict[str, Any]) -> float:
    """How far a violation is over its limit, in % of the limit."""
    value, limit = float(v.get("value") or 0), float(v.get("limit") or 0)
    if not limit:
        return 100.0
    from edgekd.report.fmt import FLOORS

    if v.get("key") in FLOORS:
        return round((limit - value) / limit * 100, 2)
    return round((value - limit) / limit * 100, 2)


def quality(a: dict[str, Any]) -> float | None:
    """What ranks artifacts: a classifier's ``accuracy``; a language model's ``top1``, its
    agreement with the teacher's next token on held-out answers (``task: causal_lm``)."""
    m = a.get("metrics") or {}
    return m.get("accuracy") if m.get("accuracy") is not None else m.get("top1")


def recommend(
    artifacts: list[dict[str, Any]],
    profiles: list[dict[str, Any]],
    steps: list[dict[str, Any]],
) -> dict[str, Any]:
    """Per target: the artifact to ship, why, and (when none fits) the closest one and each
    budget it fails with the overshoot in % of the limit."""
    facts = {
        "acc": {a["id"]: quality(a) for a in artifacts},
        "fmt": {a["id"]: a.get("format") for a in artifacts},
        "regress": {s["artifact"]: s for s in steps if s["regressions"]},
    }
    names = list(dict.fromkeys(t["name"] for p in profiles for t in p.get("targets") or []))
    return {
        name: _pick(
            name,
            {
                p["artifact"]: t
                for p in profiles
                for t in p.get("targets") or []
                if t["name"] == name
            },
            facts,
        )  # fmt: skip
        for name in names
    }


def _pick(name: str, rows: dict[str, dict[str, Any]], facts: dict[str, Any]) -> dict[str, Any]:
    """The recommendation for one target from its rows (artifact id -> target row)."""
    acc = facts["acc"]
    passing = {a for a, t in rows.items() if t.get("verdict") == "pass"}

    def lat(a: str) -> float:
        return (rows[a].get("predicted") or {}).get("latency_ms") or 0.0

    def tps(a: str) -> float | None:  # a language model's predicted decode tokens/s
        return (rows[a].get("predicted") or {}).get("tokens_per_s")

    def rank(a: str) -> tuple[float, bool, float]:
        # equal accuracy: a file the target's runtime runs as it is, then the faster
        native = rows[a].get("runtime_format")  # profiles before it was recorded: None
        foreign = native is not None and facts["fmt"].get(a) != native
        return (-(acc.get(a) or 0.0), foreign, lat(a))

    skipped = []
    for a in sorted(passing):
        step = facts["regress"].get(a)
        why = _counts_here(step, name) if step else []
        if why and step and step["reference"] in passing:
            skipped.append({"artifact": a, "instead": step["reference"],
                            "why": "; ".join(r["short"] for r in why)})  # fmt: skip
    ok = sorted(passing - {s["artifact"] for s in skipped}, key=rank)
    if ok:
        return {
            "artifact": ok[0], "fits": True, "accuracy": acc.get(ok[0]), "latency_ms": lat(ok[0]),
            "tokens_per_s": tps(ok[0]),
            "reason": "most accurate that passes every budget", "skipped": skipped,
            "closest": None, "failing": [],
        }  # fmt: skip
    failing = [a for a, t in rows.items() if t.get("verdict") == "fail"]
    closest = min(
        failing,
        key=lambda a: (max(_over_pct(v) for v in rows[a].get("violations") or [{}]), rank(a)),
        default=None,
    )
    if closest is None:
        return {"artifact": None, "fits": False, "accuracy": None, "latency_ms": None,
                "reason": "no artifact runs on this target", "skipped": [], "closest": None,
                "failing": []}  # fmt: skip
    fails = [
        {"key": v.get("key"), "value": v.get("value"), "limit": v.get("limit"),
         "over_pct": _over_pct(v)}
        for v in rows[closest].get("violations") or []
    ]  # fmt: skip
    return {
        "artifact": None, "fits": False, "accuracy": acc.get(closest),
        "latency_ms": lat(closest), "tokens_per_s": tps(closest), "reason": "none fits",
        "skipped": [], "closest": closest,
        "failing": fails,
    }  # fmt: skip


def shown(pick: dict[str, Any]) -> str | None:
    """The artifact a target's plots and budget-use row show: the pick, else the closest."""
    return pick.get("artifact") or pick.get("closest")


def sentence(name: str, pick: dict[str, Any]) -> str:
    """The recommendation for one target in words (Markdown: ``code`` and **bold**)."""
    from edgekd.report import fmt

    speed = fmt.ms(pick.get("latency_ms"))
    quality = fmt.pct(pick.get("accuracy"))
    if pick.get("tokens_per_s") is not None:  # a language model: decode speed, teacher top-1
        speed = f"{fmt.sig(pick['tokens_per_s'])} tokens/s"
        quality = f"top-1 {quality} vs the teacher"
    if pick.get("fits"):
        s = f"**{name}**: ship `{pick['artifact']}` ({quality}, {speed}; {pick['reason']})"
        for sk in pick.get("skipped") or []:
            s += f"; not `{sk['artifact']}` ({sk['why']})"
        return s
    if not pick.get("closest"):
        return f"**{name}**: nothing to ship ({pick['reason']})"
    fails = ", ".join(_failing(f) for f in pick["failing"])
    return f"**{name}**: none fits; the closest, `{pick['closest']}`, fails {fails}"


def _failing(f: dict[str, Any]) -> str:
    """One failed budget in words: over a ceiling, or short of a floor (accuracy, tokens/s)."""
    from edgekd.report import fmt

    label = fmt.BUDGET_LABEL.get(f["key"], f["key"])
    if f["key"] == "min_accuracy":
        return (
            f"accuracy {fmt.pct(f['value'])} < {fmt.pct(f['limit'])} ({f['over_pct']:.1f}% short)"
        )
    if f["key"] == "tokens_per_s":
        return (
            f"{label} {fmt.value(f['key'], f['value'])} < {fmt.value(f['key'], f['limit'])} "
            f"({f['over_pct']:.1f}% short)"
        )
    return (
        f"{label} {fmt.value(f['key'], f['value'])} > {fmt.value(f['key'], f['limit'])} "
        f"({f['over_pct']:.1f}% over)"
    )
