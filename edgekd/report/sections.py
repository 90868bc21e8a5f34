"""The report's sections as data (title, text, one table, notes), rendered by both
``markdown.py`` and ``html.py`` so the two formats always show the same numbers.

Text may use two bits of Markdown, ``**bold**`` and ```code```; the HTML renderer
translates them. Table cells are plain text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgekd.report import fmt
from edgekd.report.fmt import DASH


@dataclass
class Section:
    title: str
    text: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)  # plot names (HTML only)


def _s(v: Any) -> str:
    return DASH if v is None else str(v)


def indent(depth: int) -> str:
    """Lineage depth as no-break spaces (kept by GitHub, unlike ASCII spaces) and an arrow."""
    return "\u00a0\u00a0" * max(depth - 1, 0) + ("↳ " if depth else "")


def headline(r: dict[str, Any]) -> str:
    data = r.get("data") or {}
    return (
        f"Run status **{r.get('status')}** · created {r.get('created')} · config "
        f"`{r.get('config_hash')}` · data {data.get('name', DASH)} "
        f"(test split {(data.get('sizes') or {}).get('test', DASH)} samples) · "
        f"report schema `{r['schema']}`"
    )


def verdict_cell(v: dict[str, Any] | None) -> str:
    if v is None:
        return "not profiled"
    mark = fmt.MARK.get(v["verdict"], v["verdict"])
    return f"{mark} ({fmt.headroom(v['min_headroom'])})" if v.get("min_headroom") else mark


def verdicts(r: dict[str, Any]) -> Section:
    sec = Section("Verdicts")
    if not r["targets"]:
        sec.text = ["No artifact was profiled on a device target."]
        return sec
    names = [t["name"] for t in r["targets"]]
    cells = {(v["artifact"], v["target"]): v for v in r["verdicts"]}
    arts = list(dict.fromkeys(v["artifact"] for v in r["verdicts"]))
    sec.text = ["Simulated on each target; in brackets the tightest budget."]
    sec.header = ["artifact", *(f"{t['name']} ({t['runtime']})" for t in r["targets"])]
    sec.rows = [[a, *(verdict_cell(cells.get((a, n))) for n in names)] for a in arts]
    sec.plots = ["accuracy_latency"]
    return sec


def ship_this(r: dict[str, Any]) -> Section:
    """The top section: per target, the artifact to ship (or none fits, and by how much)."""
    from edgekd.report.ship import sentence

    sec = Section("What to ship")
    if not r["chosen"]:
        sec.text = ["No artifact was profiled on a device target: nothing to recommend."]
        return sec
    sec.text = [
        "Per target, the most accurate artifact that passes every budget (ties: a file the "
        "target's runtime runs as it is, then the faster); "
        "never a compressed one that is larger or slower than a reference that fits too."
    ]
    sec.notes = [sentence(name, pick) for name, pick in r["chosen"].items()]
    sec.notes += [f"⚠️ {g['message']}" for s in r.get("compression") or [] for g in s["regressions"]]
    return sec


def compression(r: dict[str, Any]) -> Section:
    """Every compression step against its reference: size, host speed, predicted speed."""
    steps = r.get("compression") or []
    sec = Section("Compression steps")
    if not steps:
        sec.text = ["No pruned, quantized or int8/fp16-exported artifact in this run."]
        return sec
    names = [t["name"] for t in r["targets"]]
    sec.text = [
        "Each compressed artifact against its float reference (its parent, or the fp32 "
        "export of the same model): size ratio, measured host speed-up (p50, noisy at "
        "microseconds) and predicted speed-up per target (>1 is faster)."
    ]
    sec.header = ["artifact", "reference", "step", "size", "host speed-up"]
    sec.header += [f"{n} speed-up" for n in names]

    def x(v: float | None) -> str:
        return DASH if v is None else f"{v:.2f}×"

    for s in steps:
        sec.rows.append(
            [s["artifact"], s["reference"], f"{s['step']} {s['precision']}",
             f"{fmt.nbytes(s['file_bytes'])} ({x(s['size_ratio'])})", x(s["host_speedup"]),
             *(x(s["speedup"].get(n)) for n in names)]
        )  # fmt: skip
    sec.notes = [f"⚠️ {g['message']}" for s in steps for g in s["regressions"]]
    if not sec.notes:
        sec.notes = ["Every step is smaller and no slower than its reference."]
    return sec


def comparison(r: dict[str, Any]) -> Section:
    c = r["comparison"]
    sec = Section("Distilled vs baseline vs teacher")
    if not c["rows"]:
        sec.text = ["No teacher, student or baseline in this run."]
        return sec
    sec.header = ["model", "artifact", "accuracy", "macro-F1", "agrees with teacher", "params"]
    sec.header += ["MACs", "size"]
    sec.rows = [
        [
            name,
            x["artifact"],
            fmt.pct(x["accuracy"]),
            fmt.sig(x["macro_f1"], 4),
            fmt.pct(x["agreement"]),
            fmt.count(x["params"]),
            fmt.count(x["macs"]),
            fmt.nbytes(x["file_bytes"]),
        ]
        for name, x in c["rows"].items()
    ]
    facts = []
    if c["distillation_gain_pp"] is not None:
        gain = fmt.signed(c["distillation_gain_pp"], "pp")
        facts.append(f"distillation gain over the baseline: **{gain}**")
    if c["gap_to_teacher_pp"] is not None:
        facts.append(f"distance to the teacher: {fmt.signed(c['gap_to_teacher_pp'], 'pp')}")
    if c["params_ratio"]:
        facts.append(f"{c['params_ratio']}× fewer parameters than the teacher")
    if c["macs_ratio"]:
        facts.append(f"{c['macs_ratio']}× fewer MACs")
    sec.notes = ["; ".join(facts) + "."] if facts else []
    sec.plots = ["training"]
    return sec


def _made_by(framework: str | None) -> str:
    """`` (keras)``, `` (tensorflow)``: the framework that made an artifact, when not torch."""
    return "" if framework in (None, "torch") else f" ({framework})"


def lineage(r: dict[str, Any]) -> Section:
    names = [t["name"] for t in r["targets"]]
    sec = Section("Lineage")
    sec.text = [
        "Each artifact against its parent (Δ in brackets). Latency is predicted; "
        "torch checkpoints are not profiled."
    ]
    sec.header = ["artifact", "parent", "stage", "format", "accuracy (Δ)", "size (Δ)"]
    sec.header += [f"{n} latency (Δ)" for n in names]
    for x in r["lineage"]:
        lat = [
            f"{fmt.ms(x['latency_ms'][n])} ({fmt.signed(x['delta_latency_pct'][n], '%', 1)})"
            if n in x["latency_ms"]
            else DASH
            for n in names
        ]
        sec.rows.append(
            [
                indent(x["depth"]) + x["id"],
                _s(x["parent"]),
                _s(x["stage"]),
                f"{x['format']} {x['precision']}" + _made_by(x.get("framework")),
                f"{fmt.pct(x['accuracy'])} ({fmt.signed(x['delta_accuracy_pp'], 'pp')})",
                f"{fmt.nbytes(x['file_bytes'])} ({fmt.signed(x['delta_file_bytes_pct'], '%', 1)})",
                *lat,
            ]
        )
    return sec


def violations(r: dict[str, Any]) -> Section:
    sec = Section("Budget violations")
    if not r["violations"]:
        sec.text = [
            "None: every profiled artifact fits every budget it was given."
            if r["targets"]
            else "No budgets were checked (nothing profiled)."
        ]
        return sec
    sec.header = ["artifact", "target", "budget", "predicted", "limit", "caused by"]
    sec.rows = [
        [
            v["artifact"],
            v["target"],
            fmt.BUDGET_LABEL.get(v["key"], v["key"]),
            fmt.value(v["key"], v["value"]) if v["value"] is not None else DASH,
            fmt.value(v["key"], v["limit"]) if v["limit"] is not None else DASH,
            "; ".join(v["causes"]) or v["message"],
        ]
        for v in r["violations"]
    ]
    return sec


def predictions(r: dict[str, Any]) -> Section:
    sec = Section("Predictions")
    sec.header = ["artifact", "target", "runtime", "latency", "band (ms)", "RAM", "flash"]
    sec.header += ["energy", "verdict"]
    for p in r["profiles"]:
        for t in p.get("targets") or []:
            pr = t.get("predicted") or {}
            band = (
                f"{fmt.sig(pr.get('latency_ms_low'))}–{fmt.sig(pr.get('latency_ms_high'))}"
                if pr.get("latency_ms_low") is not None
                else DASH
            )
            sec.rows.append(
                [
                    p["artifact"],
                    t["name"],
                    _s(t.get("runtime")),
                    fmt.ms(pr.get("latency_ms")),
                    band,
                    fmt.nbytes(pr.get("peak_ram_bytes")),
                    fmt.nbytes(pr.get("flash_bytes")),
                    fmt.mj(pr.get("energy_mj")),
                    fmt.MARK.get(t.get("verdict", ""), _s(t.get("verdict"))),
                ]
            )
    if not sec.rows:
        sec.header, sec.text = [], ["Nothing was profiled."]
    return sec


def _use(v: float | None) -> str:
    if v is None:
        return "no budget"
    return f"{fmt.sig(v, 2)}%" + (" ❌" if v > 100 else "")


def budget_use(r: dict[str, Any]) -> Section:
    sec = Section("Budget use")
    if not r["budget_use"]:
        sec.text = ["Nothing was profiled."]
        return sec
    keys = ("latency_ms", "ram_bytes", "flash_bytes", "energy_mj")
    sec.text = ["The chosen artifact's predicted use of each budget (100% = at the limit)."]
    sec.header = ["target", "artifact", *(fmt.BUDGET_LABEL[k] for k in keys)]
    sec.rows = [
        [name, u["artifact"], *(_use(u["use_pct"].get(k)) for k in keys)]
        for name, u in r["budget_use"].items()
    ]
    sec.plots = ["budget_use", "top_ops"]
    return sec


def memory_peaks(r: dict[str, Any]) -> Section:
    """Which tensors are live when activation memory peaks (what to shrink to fit RAM)."""
    sec = Section("Memory at the activation peak")
    peaks = r.get("memory_peaks") or []
    if not peaks:
        sec.text = ["No .tflite artifact was profiled."]
        return sec
    sec.text = [
        "For each .tflite artifact, the op where live activations peak and the tensors "
        "live there; ``tflm arena`` is the arena TensorFlow Lite Micro measured (int8 files)."
    ]
    sec.header = ["artifact", "peak op", "live at peak", "tensor", "bytes", "made by", "tflm arena"]
    for p in peaks:
        op = f"{p['op']['op_type']}#{p['op']['index']}"
        for i, t in enumerate(p["live"][:3]):
            sec.rows.append(
                [p["artifact"] if i == 0 else "", op if i == 0 else "",
                 fmt.nbytes(p["peak_bytes"]) if i == 0 else "", _s(t["tensor"])[-40:],
                 fmt.nbytes(t["bytes"]), _s(t["producer"]),
                 fmt.nbytes(p.get("tflm_arena_bytes")) if i == 0 else ""]
            )  # fmt: skip
    return sec


def artifacts(r: dict[str, Any]) -> Section:
    sec = Section("Artifacts")
    sec.header = ["artifact", "role", "runtime", "params", "MACs", "size", "parity", "sha256"]
    sec.header += ["path"]
    sec.rows = [
        [
            a["id"],
            _s(a["role"]),
            _s(a.get("runtime")),
            fmt.count(a.get("params")),
            fmt.count(a.get("macs")),
            fmt.nbytes(a.get("file_bytes")),
            (a.get("parity") or {}).get("status", DASH),
            (a.get("sha256") or "")[:12] or DASH,
            _s(a.get("path")),
        ]
        for a in r["artifacts"]
    ]
    return sec


def timings(r: dict[str, Any]) -> Section:
    sec = Section("Stage timings")
    sec.header = ["stage", "time", "status"]
    sec.rows = [[k, fmt.duration(v), _s(r["stage_status"].get(k))] for k, v in r["stages"].items()]
    done = [v for v in r["stages"].values() if v is not None]
    if done:
        sec.rows.append(["total", fmt.duration(sum(done)), ""])
    return sec


def sections(r: dict[str, Any]) -> list[Section]:
    """Every section, most decision-relevant first."""
    return [
        fn(r)
        for fn in (
            ship_this,
            verdicts,
            comparison,
            compression,
            lineage,
            violations,
            predictions,
            budget_use,
            memory_peaks,
            artifacts,
            timings,
        )
    ]
