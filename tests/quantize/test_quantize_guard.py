from __future__ import annotations

import pytest

from edgekd.errors import StageError
from edgekd.quantize.api import quantize
from edgekd.quantize.config import QuantizeConfig
from edgekd.quantize.guard import fallbacks, search
from edgekd.quantize.onnx_quant import PtqSettings
from edgekd.quantize.speedup import amdahl, classify_nodes, speedup_report


def test_impossible_bar_tries_every_fallback_in_order_then_raises(float_onnx, digits, tmp_path):
    out = tmp_path / "q.onnx"
    cfg = QuantizeConfig(method="static", max_output_error=1e-9, min_top1_agreement=1.0)
    with pytest.raises(StageError, match="allow-degraded") as exc:
        quantize(float_onnx, out, cfg, calib=digits.calib.x)
    assert exc.value.exit_code == 1 and "output 'logits'" in str(exc.value)
    attempts = exc.value.report["attempts"]  # type: ignore[attr-defined]
    settings = [a["settings"] for a in attempts]
    assert (settings[0]["per_channel"], settings[0]["calibration"]) == (False, "minmax")
    assert (settings[1]["per_channel"], settings[1]["calibration"]) == (True, "minmax")
    assert settings[2]["calibration"] == "entropy" and settings[3]["calibration"] == "percentile"
    # then one probe per compute node and per consecutive pair, then the best probes combined
    probes = [a["sensitivity_probe"] for a in attempts if "sensitivity_probe" in a]
    assert [len(p) for p in probes] == [1, 1, 1, 2, 2]
    assert all("outputs" in a or "skipped" in a for a in attempts)
    assert out.is_file()  # the best attempt is kept


def test_allow_degraded_keeps_the_best_attempt(float_onnx, digits, tmp_path):
    cfg = QuantizeConfig(
        method="fp16", max_output_error=1e-12, min_top1_agreement=1.0, allow_degraded=True
    )
    report = quantize(float_onnx, tmp_path / "q.onnx", cfg, calib=digits.calib.x)
    assert report["met_bar"] is False and len(report["attempts"]) == 1
    assert (
        report["outputs"]["logits"]["rel_l2"]
        == report["attempts"][0]["outputs"]["logits"]["rel_l2"]
    )


def test_search_stops_at_the_first_attempt_meeting_the_bar():
    seen = []

    class Fake:
        def fallbacks(self, base):
            return fallbacks(base)

        def probes(self, settings):
            raise AssertionError("no probes when a fallback meets the bar")

    def attempt(s: PtqSettings, first: bool = False) -> dict:
        seen.append(s)
        ok = s.calibration == "entropy"
        return {"settings": s.to_dict(), "outputs": {}, "meets_bar": ok}

    rec = search(Fake(), PtqSettings(), attempt)  # type: ignore[arg-type]
    assert rec is not None and rec["settings"]["calibration"] == "entropy"
    assert [(s.per_channel, s.calibration) for s in seen] == [
        (False, "minmax"),
        (True, "minmax"),
        (True, "entropy"),
    ]


def test_amdahl():
    assert amdahl(0.0, 4.0) == 1.0
    assert amdahl(1.0, 4.0) == 4.0
    assert amdahl(0.5, 2.0) == pytest.approx(1 / 0.75)


def test_speedup_report_counts_nodes_and_measures(float_onnx, digits, tmp_path):
    from edgekd.quantize.onnx_quant import quantize_file

    out = tmp_path / "q.onnx"
    quantize_file(float_onnx, out, PtqSettings(exclude_nodes=("/classifier/Gemm",)), digits.calib.x)
    float_nodes = classify_nodes(float_onnx)
    assert (float_nodes["int8_nodes"], float_nodes["float_nodes"]) == (0, 3)
    report = speedup_report(float_onnx, out, digits.val.x[:1], repeats=3)
    assert (report["int8_nodes"], report["float_nodes"]) == (2, 1)
    macs = {n["name"]: n["macs"] for n in report["nodes"]}
    # golden MACs of the width-8 cnn: 8x8x8 outputs x 9, 16x4x4 outputs x 72, 16 x 10
    assert macs == {
        "/features/block0/conv/Conv": 4608,
        "/features/block1/conv/Conv": 18432,
        "/classifier/Gemm": 160,
    }
    assert report["int8_mac_share"] == pytest.approx(23040 / 23200)
    assert report["expected_speedup"]["k=4"] == pytest.approx(amdahl(23040 / 23200, 4.0))
    for key in ("1_thread", "all_threads"):
        assert set(report["measured"][key]) == {"float_ms", "quant_ms", "speedup"}
