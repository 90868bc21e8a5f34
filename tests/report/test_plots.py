"""Report plots: legible labels and no matplotlib warnings (a warning here is an error) for
report shapes from one target to many, short op names to litert-torch's longest."""

from __future__ import annotations

import re
import warnings

import pytest

from edgekd.report.build import build_report
from edgekd.report.plots import make_plots
from tests.report.conftest import long_op_names, with_many_targets

SHAPES = {
    "run": lambda m: m,
    "many targets": lambda m: with_many_targets(m, copies=3),
    "tflite op names": long_op_names,
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_plots_draw_without_warnings(grown_manifest, shape: str) -> None:
    report = build_report(SHAPES[shape](grown_manifest))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "constrained_layout not applied ..."
        plots = make_plots(report)
    assert set(plots) == {"accuracy_latency", "budget_use", "top_ops", "training"}


def _texts(svg: str) -> list[str]:
    found = re.findall(r"<text[^>]*>(.*?)</text>", svg, re.S)
    return [re.sub(r"\s+", " ", t).strip() for t in found]


def test_top_ops_labels_are_short(grown_manifest) -> None:
    report = build_report(long_op_names(grown_manifest))
    texts = _texts(make_plots(report)["top_ops"])
    assert "CONV_2D #1 (features.block1)" in texts or any(
        t.startswith("CONV_2D") and "(features.block1)" in t for t in texts
    )
    assert not any("torch.nn.modules" in t or "serving_default" in t for t in texts)
    assert max(len(t) for t in texts) <= 60


def test_accuracy_plot_names_artifacts_in_one_legend(grown_manifest) -> None:
    """No text next to points (points of equal accuracy would overlap): each artifact once."""
    report = build_report(grown_manifest)
    texts = _texts(make_plots(report)["accuracy_latency"])
    arts = {v["artifact"] for v in report["verdicts"]}
    assert all(texts.count(a) == 1 for a in arts)
