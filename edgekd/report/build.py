"""report.json from a run's manifest (nothing is rerun), and writing every report format.

``report.json`` (schema ``edgekd.report/1``) holds the DESIGN.md keys (``schema``,
``recipe``, ``artifacts[]``, ``profiles[]``) plus every derived number the Markdown and
HTML reports show: verdicts, lineage deltas, the distilled/baseline/teacher comparison,
violations with causes, the artifact to ship per target (``chosen``: the top
section), every compression step against its reference (``compression``), budget use and
training curves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekd.artifact import MODEL_FORMATS
from edgekd.fileio import atomic_write_text
from edgekd.report import analysis, ship
from edgekd.rundir import RunDir

REPORT_SCHEMA = "edgekd.report/1"
FORMATS = ("json", "md", "html")
FILES = {"json": "report.json", "md": "report.md", "html": "report.html"}
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
    """The report: resolved recipe, artifacts, profiles, timings, and what they imply."""
    every = list(manifest.get("artifacts") or [])
    raw = [a for a in every if a.get("format") in MODEL_FORMATS]
    artifacts = []
    for a in raw:
        row = {k: a.get(k) for k in ARTIFACT_KEYS}
        row["runtime"] = (a.get("extra") or {}).get("runtime")
        row["framework"] = framework(a)
        artifacts.append(row)
    profiles = profiles_of(manifest)
    steps = ship.compression_steps(artifacts, raw)
    chosen = ship.recommend(artifacts, profiles, steps)
    stages = manifest.get("stages") or {}
    return {
        "schema": REPORT_SCHEMA,
        "manifest_schema": manifest.get("schema"),
        "name": manifest.get("name"),
        "status": manifest.get("status"),
        "created": manifest.get("created"),
        "config_hash": manifest.get("config_hash"),
        "recipe": manifest.get("recipe"),
        "data": _data_summary(manifest, every),
        "versions": manifest.get("versions"),
        "artifacts": artifacts,
        "profiles": profiles,
        "stages": {k: v.get("seconds") for k, v in stages.items()},
        "stage_status": {k: v.get("status") for k, v in stages.items()},
        "errors": {k: v["error"] for k, v in stages.items() if v.get("error")},
        "warnings": warnings(raw),
        "targets": analysis.targets(profiles),
        "verdicts": analysis.verdicts(profiles),
        "lineage": analysis.lineage(artifacts, profiles),
        "comparison": analysis.comparison(artifacts),
        "violations": analysis.violations(profiles),
        "chosen": chosen,
        "compression": steps,
        "budget_use": analysis.budget_use(profiles, chosen),
        "memory_peaks": analysis.memory_peaks(profiles),
        "pareto_front": analysis.pareto_front(artifacts, profiles),
        "training": analysis.training(raw),
    }


def framework(art: dict[str, Any]) -> str:
    """What made an artifact: ``extra.framework`` where its pass records one (the Keras path:
    ``keras``, ``tensorflow`` for TFLiteConverter files); a file the recipe named as the
    teacher is shown by its format; everything else comes from the torch path (torch
    checkpoints and their ONNX/litert-torch exports)."""
    extra = art.get("extra") or {}
    if extra.get("framework"):
        return str(extra["framework"])
    if art.get("role") == "teacher" and extra.get("source") == "file":
        return str(art.get("format"))
    return "torch"


def profiles_of(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """One profile per profiled artifact (``extra.profile``; older runs kept a list)."""
    if manifest.get("profiles"):
        return list(manifest["profiles"])
    return [
        {"artifact": a["id"], **a["extra"]["profile"]}
        for a in manifest.get("artifacts") or []
        if (a.get("extra") or {}).get("profile")
    ]


def _data_summary(manifest: dict[str, Any], artifacts: list[dict[str, Any]]) -> Any:
    if manifest.get("data"):
        return manifest["data"]
    for a in artifacts:
        if a.get("id") == "data":
            return (a.get("extra") or {}).get("summary")
    return None


def warnings(artifacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each stage warning recorded on an artifact (e.g. pruning that cost more accuracy than
    ``prune.max_accuracy_drop``): ``{artifact, stage, message}``."""
    return [
        {"artifact": a.get("id"), "stage": key, "message": info["warning"]}
        for a in artifacts
        for key, info in (a.get("extra") or {}).items()
        if isinstance(info, dict) and info.get("warning")
    ]


def recipe_formats(manifest: dict[str, Any]) -> list[str]:
    """The formats the run's recipe asks for (older recipes: json and md)."""
    recipe = manifest.get("recipe") or {}
    formats = (recipe.get("report") or {}).get("formats")
    return [f for f in formats if f in FORMATS] if formats else list(FORMATS)


def top_ops_count(manifest: dict[str, Any]) -> int:
    return int(((manifest.get("recipe") or {}).get("report") or {}).get("top_ops", 8))


def write_reports(run: RunDir, formats: list[str] | None = None) -> dict[str, Any]:
    """Write ``report.{json,md,html}`` (default: the recipe's ``report.formats``)."""
    report = build_report(run.manifest)
    for fmt in formats or recipe_formats(run.manifest):
        atomic_write_text(run.path / FILES[fmt], render(report, fmt, top_ops_count(run.manifest)))
    return report


def render(report: dict[str, Any], fmt: str, top_ops: int = 8) -> str:
    """One report format as text."""
    if fmt == "json":
        import json

        from edgekd.fileio import _json_default

        return json.dumps(report, indent=2, default=_json_default) + "\n"
    if fmt == "md":
        from edgekd.report.markdown import render_markdown

        return render_markdown(report)
    if fmt == "html":
        from edgekd.report.html import render_html
        from edgekd.report.plots import make_plots

        return render_html(report, make_plots(report, top_ops))
    raise ValueError(f"unknown report format {fmt!r}; valid: {', '.join(FORMATS)}")


def written(run_dir: Path) -> list[Path]:
    """The report files present in a run directory, in FORMATS order."""
    return [run_dir / FILES[f] for f in FORMATS if (run_dir / FILES[f]).is_file()]
