"""``edgekd profile`` and ``edgekd targets list`` tables: units and no line wider than the
terminal at 80 and 120 columns."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from edgekd.profile.cli import print_report


def render(width: int, report: dict) -> list[str]:
    con = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    print_report(report, con=con)
    return con.export_text().splitlines()


@pytest.mark.parametrize("width", [80, 120])
def test_profile_table_fits_with_units(tiny_onnx: Path, width: int) -> None:
    from edgekd.profile.api import profile

    targets = ["pixel-4", "rpi-4", "nucleo-l4r5zi", "nano-33-ble"]
    report = profile(str(tiny_onnx), targets=targets, measure=False,
                     budgets={"nano-33-ble": {"latency_ms": 1e-4}})  # fmt: skip
    lines = render(width, report)
    assert max(len(line) for line in lines) <= width
    text = "\n".join(lines)
    assert re.search(r"weights [\d.]+ (B|KiB)", text)
    for name in targets:
        row = next(line for line in lines if line.strip().startswith(name + " "))
        assert re.search(r"\d ms\b", row), row
        assert len(re.findall(r"\d (?:B|KiB|MiB)\b", row)) == 2, row
    assert any("nano-33-ble: latency_ms" in line and " ms" in line for line in lines)


@pytest.mark.parametrize("width", [80, 120])
def test_targets_list_fits(width: int, monkeypatch) -> None:
    import sys

    cli = sys.modules[print_report.__module__]  # edgekd.profile is also a function's name
    con = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    monkeypatch.setattr(cli, "console", lambda: con)
    cli.targets_list(as_json=False)
    lines = con.export_text().splitlines()
    assert max(len(line) for line in lines) <= width
    row = next(line for line in lines if line.strip().startswith("nano-33-ble "))
    assert "256 KiB" in row and "1 MiB" in row
