"""report.html: one self-contained file. Inline CSS and inline SVG plots; no scripts, no
fonts, images or styles fetched from anywhere. A Content-Security-Policy forbids every
fetch, so a browser opening the file makes no network request even if a later edit slips
in a URL.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

from edgekd.report.sections import Section, headline, sections

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
CAPTIONS = {
    "accuracy_latency": "Test accuracy vs predicted latency per target (bars: the simulator's "
    "uncertainty band), with the latency budget, the Pareto front across artifacts and the "
    "teacher's accuracy for reference.",
    "training": "Training curves: loss and validation accuracy per epoch, distilled vs baseline.",
    "budget_use": "Budget use of the chosen artifact per target: latency, RAM, flash and energy "
    "as % of the budget (right of the red line = over budget).",
    "top_ops": "The ops with the most predicted time, for the chosen artifact on each target.",
}
CSS = """
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; color: #1f2328; background: #fff; margin: 0; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; margin-top: 36px; }
.meta { color: #59636e; margin: 0 0 8px; }
.error { background: #ffebe9; border: 1px solid #ff8182; padding: 8px 12px; border-radius: 6px; }
.warning { background: #fff8c5; border: 1px solid #d4a72c; padding: 8px 12px; border-radius: 6px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 14px; }
th, td { border: 1px solid #d0d7de; padding: 5px 10px; text-align: left; white-space: nowrap;
  vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; white-space: normal; min-width: 4em; }
td.wrap { white-space: normal; min-width: 320px; }
td.path { white-space: normal; overflow-wrap: anywhere; min-width: 12em; }
.delta { display: block; color: #59636e; font-size: 13px; font-weight: normal; }
tr:nth-child(even) td { background: #fbfcfd; }
.pass { color: #1a7f37; font-weight: 600; }
.fail { color: #cf222e; font-weight: 600; }
.unsupported { color: #9a6700; font-weight: 600; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  background: #f6f8fa; padding: 1px 4px; border-radius: 4px; }
figure { margin: 16px 0 24px; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { color: #59636e; font-size: 13px; margin-top: 4px; }
.note { color: #59636e; font-style: italic; }
footer { margin-top: 40px; color: #59636e; font-size: 13px; }
"""
# Emoji marks (Markdown) become plain symbols and a colour class: no emoji font needed.
VERDICT_CLASS = (("✅", "✓", "pass"), ("❌", "✗", "fail"), ("⚠️", "!", "unsupported"))


def inline(text: str) -> str:
    """Escape, then the two bits of Markdown section text uses: **bold** and `code`."""
    out = escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


DELTA = re.compile(r"(.+?) (\((?:[+−-][^)]*|–)\))")  # '92.22% (−4.44 pp)', '0.0095 ms (–)'


def cell(text: str, column: str = "") -> str:
    """One ``<td>``: verdict marks as symbols and a colour class; a value with its delta in
    brackets on two lines (so lineage tables stay narrow); paths and long prose wrap."""
    for mark, symbol, cls in VERDICT_CLASS:
        if mark in text:
            main, _, why = text.replace(mark, symbol).partition(" (")
            why = f'<span class="delta">({escape(why)}</span>' if why else ""
            return f'<td class="{cls}">{escape(main)}{why}</td>'
    if column == "path":
        return f'<td class="path">{escape(text)}</td>'
    if len(text) > 60:  # long prose (violation causes) wraps instead of widening the table
        return f'<td class="wrap">{escape(text)}</td>'
    m = DELTA.fullmatch(text)
    if m:
        return f'<td>{escape(m.group(1))}<span class="delta">{escape(m.group(2))}</span></td>'
    return f"<td>{escape(text)}</td>"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A table in its own horizontal scroll container: a table wider than the page scrolls
    inside the box instead of widening the page."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "\n".join(
        "<tr>" + "".join(cell(c, h) for c, h in zip(row, header, strict=False)) + "</tr>"
        for row in rows
    )
    return (
        f'<div class="scroll"><table>\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody></table></div>"
    )


def section(sec: Section, plots: dict[str, str], plots_missing: bool) -> str:
    out = [f"<section>\n<h2>{escape(sec.title)}</h2>"]
    out += [f"<p>{inline(p)}</p>" for p in sec.text]
    if sec.header:
        out.append(table(sec.header, sec.rows))
    if sec.notes:
        out.append("<ul>" + "".join(f"<li>{inline(n)}</li>" for n in sec.notes) + "</ul>")
    for name in sec.plots:
        if name in plots:
            out.append(
                f"<figure>{plots[name]}<figcaption>{escape(CAPTIONS[name])}</figcaption></figure>"
            )
        elif plots_missing:
            out.append(
                f'<p class="note">Plot not drawn: matplotlib is not installed '
                f'(<code>pip install "edgekd[report]"</code>). {escape(CAPTIONS[name])}</p>'
            )
    return "\n".join(out) + "\n</section>"


def render_html(r: dict[str, Any], plots: dict[str, str]) -> str:
    """The HTML report; ``plots`` maps plot names to inline ``<svg>`` strings."""
    from edgekd.report.plots import available

    missing = not available()
    errors = "".join(
        f'<p class="error"><strong>Stage <code>{escape(stage)}</code> failed:</strong> '
        f"{escape(str(err))}</p>"
        for stage, err in (r.get("errors") or {}).items()
    )
    errors += "".join(
        f'<p class="warning"><strong>Warning</strong> (<code>{escape(w["stage"])}</code>, '
        f"<code>{escape(str(w['artifact']))}</code>): {escape(w['message'])}</p>"
        for w in r.get("warnings") or []
    )
    body = "\n".join(section(s, plots, missing) for s in sections(r))
    footer = (
        "<footer>Written by edgekd from the run's manifest. Rebuild with\n"
        "<code>edgekd report RUN_DIR</code>; latency, memory and energy are simulated "
        "predictions.</footer>"
    )
    head = f'<p class="meta">{inline(headline(r))}</p>\n{errors}'
    return page(f"edgekd report: {r.get('name')}", f"{head}\n{body}\n{footer}")


def page(title: str, body_html: str) -> str:
    """A whole self-contained HTML page: CSP header, the shared CSS, ``<h1>`` and ``body_html``.

    ``title`` is plain text (escaped here); ``body_html`` is already-escaped HTML."""
    title = escape(title)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<h1>{title}</h1>
{body_html}
</main>
</body>
</html>
"""
