"""report.html: self-contained (no scripts, nothing fetched) and renders in headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgekd.report.build import build_report, render
from tests.report.chromium import find_chromium
from tests.report.chromium import render as chromium_render
from tests.report.conftest import long_op_names, with_many_targets
from tests.report.layout import LAYOUT_JS

# The only URLs allowed in the file: XML namespace names, which browsers never fetch.
NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


def test_html_is_self_contained(run_dir: Path):
    html = (run_dir / "report.html").read_text()
    assert set(re.findall(r"(?:https?|wss?|ftp)://[^\s\"'<>)]+", html)) <= NAMESPACES
    assert "<script" not in html.lower()
    assert not re.search(r"\b(?:src|srcset)\s*=", html)
    assert not re.search(r"<link\b", html) and "@import" not in html and "url(http" not in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert html.count("<svg") == 4  # accuracy/latency, training, budget use, top ops
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "inline SVGs share element ids"


def test_html_of_grown_graph_has_every_plot_and_marks(grown_manifest):
    html = render(build_report(grown_manifest), "html")
    assert html.count("<svg") == 4
    assert '<td class="fail">✗ fail<span class="delta">(latency 100.0% over)</span></td>' in html
    assert '<td class="unsupported">! unsupported</td>' in html
    assert "DynamicQuantizeLinear" in html


def test_html_without_matplotlib_says_how_to_get_plots(grown_manifest, monkeypatch):
    import edgekd.report.plots as plots

    monkeypatch.setattr(plots, "available", lambda: False)
    html = render(build_report(grown_manifest), "html")
    assert "<svg" not in html and 'pip install "edgekd[report]"' in html


def _distinct_colors(png: Path) -> int:
    from PIL import Image

    with Image.open(png) as im:
        colors = im.convert("RGB").getcolors(maxcolors=1 << 24)
    return len(colors or [])


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = find_chromium()
    if exe is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium package)")
    return exe


def test_chromium_renders_report_without_network(chromium, run_dir, tmp_path):
    png = tmp_path / "report.png"
    requests = chromium_render(
        chromium, (run_dir / "report.html").as_uri(), png, tmp_path / "profile"
    )
    assert requests == [(run_dir / "report.html").as_uri()]  # the page itself, nothing else
    assert png.stat().st_size > 10_000
    assert _distinct_colors(png) > 50  # text, tables and plots, not a blank page


def test_chromium_check_detects_requests(chromium, tmp_path):
    """Control: the same check flags a page that fetches an image and a stylesheet."""
    page = tmp_path / "fetches.html"
    page.write_text(
        '<!DOCTYPE html><html><head><link rel="stylesheet" href="https://fonts.invalid/a.css">'
        '</head><body><p>control</p><img src="http://example.invalid/x.png"></body></html>'
    )
    requests = chromium_render(chromium, page.as_uri(), tmp_path / "c.png", tmp_path / "profile")
    assert "http://example.invalid/x.png" in requests
    assert "https://fonts.invalid/a.css" in requests


def _layout(chromium: str, page: Path, tmp_path: Path, width: int, name: str) -> dict:
    png = tmp_path / f"{name}-{width}.png"  # look at it: pytest --basetemp=DIR keeps it
    _, lay = chromium_render(
        chromium, page.as_uri(), png, tmp_path / "profile", width, 800, evaluate=LAYOUT_JS
    )
    assert png.stat().st_size > 10_000
    return lay


def _assert_readable(lay: dict, width: int, tables_fit: bool) -> None:
    assert lay["viewport"] <= width
    assert lay["scroll_width"] <= width, f"page wider than the viewport: {lay['wide'][:5]}"
    assert lay["wide"] == []
    for t in lay["tables"]:
        assert t["fits"] or t["scroll_container"], t
        if tables_fit:
            assert t["fits"], f"table '{t['header']}...' is {t['width']:.0f} px in {t['room']}"
    assert lay["overlaps"] == [], f"overlapping text in plots: {lay['overlaps'][:5]}"
    assert lay["svgs"] == 4 and lay["texts"] > 50


def test_chromium_report_reads_well_at_1280(chromium, run_dir, tmp_path):
    """The run's report at 1280x800: nothing wider than the page, every table fits without
    scrolling, no text box in any plot overlaps another."""
    lay = _layout(chromium, run_dir / "report.html", tmp_path, 1280, "report")
    _assert_readable(lay, 1280, tables_fit=True)


def test_chromium_grown_report_scales(chromium, grown_manifest, tmp_path):
    """Three times the targets, litert-torch's long op names, an 800 px window: tables that
    cannot fit scroll inside their own box, the page itself never scrolls sideways, and the
    plots still have no overlapping text."""
    width = 800
    manifest = long_op_names(with_many_targets(grown_manifest, copies=3))
    page = tmp_path / "grown.html"
    page.write_text(render(build_report(manifest), "html"))
    _assert_readable(_layout(chromium, page, tmp_path, width, "grown"), width, tables_fit=False)


def test_chromium_layout_check_detects_problems(chromium, tmp_path):
    """Control: a table wider than the page outside a scroll box, and two texts drawn on top
    of each other in an SVG, are both caught."""
    page = tmp_path / "bad.html"
    cells = "".join(f"<td>column-{i}-with-a-long-value</td>" for i in range(40))
    page.write_text(
        "<!DOCTYPE html><html><body><table><tr>" + cells + "</tr></table>"
        '<svg aria-label="p" width="200" height="50"><text x="10" y="20">0.0000</text>'
        '<text x="14" y="20">0.0025</text></svg></body></html>'
    )
    lay = _layout(chromium, page, tmp_path, 1280, "bad")
    assert lay["scroll_width"] > 1280 and lay["wide"]
    assert not lay["tables"][0]["fits"] and not lay["tables"][0]["scroll_container"]
    assert lay["overlaps"] == [["p", "0.0000", "0.0025"]]
