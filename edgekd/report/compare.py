"""``edgekd compare RUN_A RUN_B``: what changed between two runs — recipe fields, accuracy
and size of the artifacts both have, and predictions and verdicts on the targets both
profiled. Built from the manifests, like the reports; nothing is rerun.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekd.errors import UsageError
from edgekd.report import fmt
from edgekd.report.analysis import target_rows
from edgekd.report.markdown import table

COMPARE_SCHEMA = "edgekd.compare/1"
PREDICTED = ("latency_ms", "peak_ram_bytes", "flash_bytes", "energy_mj")


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; lists stay values."""
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _rel(b: float | None, a: float | None) -> float | None:
    if a is None or b is None or a == 0:
        return None
    return round((b - a) / a * 100, 2)


def _targets(r: dict[str, Any]) -> list[str]:
    return [t["name"] for t in r["targets"]]


def compare(a: dict[str, Any], b: dict[str, Any], path_a: Path, path_b: Path) -> dict[str, Any]:
    """Deltas from run A to run B (B - A). Raises ``UsageError`` with no target in common."""
    ta, tb = _targets(a), _targets(b)
    common = [t for t in ta if t in tb]
    if not common:
        raise UsageError(
            f"compare: {path_a} and {path_b} have no target in common "
            f"(A profiled: {', '.join(ta) or 'nothing'}; "
            f"B profiled: {', '.join(tb) or 'nothing'}); "
            "rerun one with targets.names set to include a target of the other"
        )
    ra, rb = flatten(a.get("recipe") or {}), flatten(b.get("recipe") or {})
    recipe = [
        {"key": k, "a": ra.get(k), "b": rb.get(k)}
        for k in sorted(set(ra) | set(rb))
        if ra.get(k) != rb.get(k) and not k.startswith("output.")
    ]
    arts_a = {x["id"]: x for x in a["artifacts"]}
    arts_b = {x["id"]: x for x in b["artifacts"]}
    artifacts = []
    for aid in [i for i in arts_a if i in arts_b]:
        xa, xb = arts_a[aid], arts_b[aid]
        acc_a = (xa.get("metrics") or {}).get("accuracy")
        acc_b = (xb.get("metrics") or {}).get("accuracy")
        artifacts.append(
            {
                "artifact": aid,
                "accuracy": [acc_a, acc_b],
                "delta_accuracy_pp": None
                if acc_a is None or acc_b is None
                else round((acc_b - acc_a) * 100, 2),
                "file_bytes": [xa.get("file_bytes"), xb.get("file_bytes")],
                "delta_file_bytes_pct": _rel(xb.get("file_bytes"), xa.get("file_bytes")),
                "params": [xa.get("params"), xb.get("params")],
            }
        )
    rows_b = {(art, t["name"]): t for art, t in target_rows(b["profiles"])}
    targets = []
    for art, t in target_rows(a["profiles"]):
        other = rows_b.get((art, t["name"]))
        if other is None or t["name"] not in common:
            continue
        pa, pb = t.get("predicted") or {}, other.get("predicted") or {}
        targets.append(
            {
                "artifact": art,
                "target": t["name"],
                "verdict": [t.get("verdict"), other.get("verdict")],
                **{k: [pa.get(k), pb.get(k)] for k in PREDICTED},
                **{f"delta_{k}_pct": _rel(pb.get(k), pa.get(k)) for k in PREDICTED},
            }
        )
    return {
        "schema": COMPARE_SCHEMA,
        "a": {"path": str(path_a), "name": a.get("name"), "created": a.get("created")},
        "b": {"path": str(path_b), "name": b.get("name"), "created": b.get("created")},
        "common_targets": common,
        "only_a_targets": [t for t in ta if t not in tb],
        "only_b_targets": [t for t in tb if t not in ta],
        "recipe_changes": recipe,
        "artifacts": artifacts,
        "only_a_artifacts": [i for i in arts_a if i not in arts_b],
        "only_b_artifacts": [i for i in arts_b if i not in arts_a],
        "targets": targets,
        "chosen": {
            t: [a["chosen"].get(t, {}).get("artifact"), b["chosen"].get(t, {}).get("artifact")]
            for t in common
        },
    }


def _pair(v: list[Any], render: Any) -> str:
    return f"{render(v[0])} → {render(v[1])}"


def render_compare(c: dict[str, Any]) -> str:
    """The comparison as Markdown (B − A; A is the older/reference run)."""
    lines = [
        "# edgekd compare",
        "",
        f"A: `{c['a']['path']}` ({c['a']['created']})  ",
        f"B: `{c['b']['path']}` ({c['b']['created']})",
        "",
        "Deltas are B − A.",
        "",
        "## Recipe changes",
        "",
    ]
    if c["recipe_changes"]:
        lines += table(
            ["field", "A", "B"], [[x["key"], str(x["a"]), str(x["b"])] for x in c["recipe_changes"]]
        )
    else:
        lines += ["None.", ""]
    lines += ["## Artifacts", ""]
    lines += table(
        ["artifact", "accuracy A → B", "Δ accuracy", "size A → B", "Δ size"],
        [
            [
                x["artifact"],
                _pair(x["accuracy"], fmt.pct),
                fmt.signed(x["delta_accuracy_pp"], "pp"),
                _pair(x["file_bytes"], fmt.nbytes),
                fmt.signed(x["delta_file_bytes_pct"], "%", 1),
            ]
            for x in c["artifacts"]
        ],
    )
    for side in ("a", "b"):
        if c[f"only_{side}_artifacts"]:
            lines += [f"Only in {side.upper()}: {', '.join(c[f'only_{side}_artifacts'])}", ""]
    lines += ["## Targets", "", f"In common: {', '.join(c['common_targets'])}."]
    for side in ("a", "b"):
        if c[f"only_{side}_targets"]:
            lines.append(f"Only in {side.upper()}: {', '.join(c[f'only_{side}_targets'])}.")
    lines.append("")
    lines += table(
        ["artifact", "target", "verdict A → B", "latency A → B", "Δ latency", "Δ RAM", "Δ flash"]
        + ["Δ energy"],
        [
            [
                x["artifact"],
                x["target"],
                " → ".join(str(v) for v in x["verdict"]),
                _pair(x["latency_ms"], fmt.ms),
                fmt.signed(x["delta_latency_ms_pct"], "%", 1),
                fmt.signed(x["delta_peak_ram_bytes_pct"], "%", 1),
                fmt.signed(x["delta_flash_bytes_pct"], "%", 1),
                fmt.signed(x["delta_energy_mj_pct"], "%", 1),
            ]
            for x in c["targets"]
        ],
    )
    lines += table(
        ["target", "ship (A)", "ship (B)"],
        [[t, str(v[0] or fmt.DASH), str(v[1] or fmt.DASH)] for t, v in c["chosen"].items()],
    )
    return "\n".join(lines)
