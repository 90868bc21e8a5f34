"""report.md: GitHub-flavoured Markdown a team can paste into a pull request."""

from __future__ import annotations

from typing import Any

from edgekd.report.fmt import DASH
from edgekd.report.sections import Section, headline, sections


def cell(v: Any) -> str:
    """A table cell: pipes escaped, no line breaks (either would break the GFM table)."""
    return str(DASH if v is None else v).replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    def row(cells: list[Any]) -> str:
        return "| " + " | ".join(cell(c) for c in cells) + " |"

    return [row(header), row(["---"] * len(header)), *(row(r) for r in rows), ""]


def section(sec: Section) -> list[str]:
    out = [f"## {sec.title}", ""]
    for para in sec.text:
        out += [para, ""]
    if sec.header:
        out += table(sec.header, sec.rows)
    if sec.notes:
        out += [*(f"- {n}" for n in sec.notes), ""]
    return out


def render_markdown(r: dict[str, Any]) -> str:
    lines = [f"# edgekd report: {r.get('name')}", "", headline(r), ""]
    for stage, err in (r.get("errors") or {}).items():
        lines += [f"> **Stage `{stage}` failed:** {cell(err)}", ""]
    for w in r.get("warnings") or []:
        lines += [f"> ⚠️ **Warning** (`{w['stage']}`, `{w['artifact']}`): {cell(w['message'])}", ""]
    for sec in sections(r):
        lines += section(sec)
    lines.append("Plots are in `report.html`. Rebuild from the manifest: `edgekd report RUN_DIR`.")
    return "\n".join(lines) + "\n"
