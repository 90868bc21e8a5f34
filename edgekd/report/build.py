"""report.json and report.md from a run's manifest (nothing is rerun)."""

from __future__ import annotations

from typing import Any

from edgekd.fileio import atomic_write_json, atomic_write_text
from edgekd.pipeline.rundir import RunDir

REPORT_SCHEMA = 1
ARTIFACT_KEYS = (
    "id",
    "role",
    "stage",
    "format",
    "precision",
    "path",
    "parent",
    "sha256",
    "params",
    "file_bytes",
    "macs",
    "metrics",
    "parity",
    "status",
)


def build_report(manifest: dict[str, Any]) -> dict[str, Any]:
    """The report: resolved recipe, artifacts with metrics and parity, profiles, timings."""
    artifacts = []
    for a in manifest.get("artifacts", []):
        row = {k: a.get(k) for k in ARTIFACT_KEYS}
        row["runtime"] = a.get("extra", {}).get("runtime")
        artifacts.append(row)
    return {
        "schema": REPORT_SCHEMA,
        "name": manifest.get("name"),
        "status": manifest.get("status"),
        "created": manifest.get("created"),
        "recipe": manifest.get("recipe"),
        "data": manifest.get("data"),
        "versions": manifest.get("versions"),
        "artifacts": artifacts,
        "profiles": manifest.get("profiles", []),
        "stages": {k: v.get("seconds") for k, v in manifest.get("stages", {}).items()},
    }


def write_reports(run: RunDir) -> dict[str, Any]:
    report = build_report(run.manifest)
    atomic_write_json(run.path / "report.json", report)
    atomic_write_text(run.path / "report.md", render_markdown(report))
    return report


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "–"
    if pct:
        return f"{100 * v:.2f}%"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return [_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)]


def render_markdown(report: dict[str, Any]) -> str:
    lines = [f"# edgekd run: {report.get('name')}", "", f"Status: **{report.get('status')}**", ""]
    rows = []
    for a in report["artifacts"]:
        m = a.get("metrics") or {}
        rows.append(
            [
                a["id"],
                a["role"],
                a["format"],
                a["precision"],
                _fmt(a.get("params")),
                _fmt(a.get("file_bytes")),
                _fmt(a.get("macs")),
                _fmt(m.get("accuracy"), True),
                _fmt(m.get("macro_f1")),
                _fmt(m.get("agreement"), True),
                (a.get("parity") or {}).get("status", "–"),
            ]
        )
    lines += _table(
        [
            "artifact",
            "role",
            "format",
            "precision",
            "params",
            "file bytes",
            "MACs",
            "accuracy",
            "macro-F1",
            "agreement",
            "parity",
        ],
        rows,
    )
    prow = []
    for p in report.get("profiles") or []:
        host = p.get("host") or {}
        lat = host.get("latency_ms") or {}
        if lat:
            prow.append(
                [
                    p["artifact"],
                    "host",
                    "–",
                    _fmt(lat.get("p50")),
                    f"p90 {_fmt(lat.get('p90'))}",
                    _fmt(host.get("peak_rss_bytes")),
                    "–",
                    "–",
                ]
            )
        for t in p.get("targets", []):
            pr = t.get("predicted") or {}
            band = f"{_fmt(pr.get('latency_ms_low'))}–{_fmt(pr.get('latency_ms_high'))}"
            prow.append(
                [
                    p["artifact"],
                    t["name"],
                    t["runtime"],
                    _fmt(pr.get("latency_ms")),
                    band,
                    _fmt(pr.get("peak_ram_bytes")),
                    _fmt(pr.get("flash_bytes")),
                    t["verdict"],
                ]
            )
    if prow:
        lines += ["", "## Profiles", ""]
        lines += _table(
            [
                "artifact",
                "target",
                "runtime",
                "latency ms (p50)",
                "band",
                "RAM bytes",
                "flash bytes",
                "verdict",
            ],
            prow,
        )
    lines += ["", "## Stage timings", ""]
    lines += _table(
        ["stage", "seconds"], [[k, _fmt(v)] for k, v in (report.get("stages") or {}).items()]
    )
    return "\n".join(lines) + "\n"
