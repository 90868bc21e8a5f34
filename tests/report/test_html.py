"""report.html: self-contained (no scripts, nothing fetched) and renders in headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgekd.report.build import build_report, render
from tests.report.chromium import find_chromium
from tests.report.chromium import render as chromium_render

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
    assert '<td class="fail">✗ fail (latency 100.0% over)</td>' in html
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
