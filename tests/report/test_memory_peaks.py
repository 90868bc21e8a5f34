"""The report names the tensors live at the activation peak, from profile's memory_peak."""

from __future__ import annotations

from edgekd.report import analysis, sections

PEAK = {
    "peak_bytes": 1280,
    "op": {"index": 1, "op_type": "DEPTHWISE_CONV_2D", "name": "dw"},
    "live": [
        {"tensor": "block0/dw", "bytes": 1024, "producer": "DEPTHWISE_CONV_2D#1", "consumers": []},
        {"tensor": "block0/conv", "bytes": 256, "producer": "CONV_2D#0", "consumers": []},
    ],
    "summary": "activation peak 1,280 B at DEPTHWISE_CONV_2D#1",
}


def test_memory_peak_section_and_ram_causes():
    profiles = [
        {
            "artifact": "student-tflite-int8",
            "model": {"memory_peak": PEAK, "tflm_arena_bytes": 4096},
        },
        {"artifact": "student-onnx", "model": {"memory_peak": None}},
    ]
    peaks = analysis.memory_peaks(profiles)
    assert [p["artifact"] for p in peaks] == ["student-tflite-int8"]
    sec = sections.memory_peaks({"memory_peaks": peaks})
    assert sec.rows[0][:3] == ["student-tflite-int8", "DEPTHWISE_CONV_2D#1", "1.25 KiB"]
    assert sec.rows[0][-1] == "4 KiB" and sec.rows[1][3] == "block0/conv"
    causes = analysis._causes("ram_bytes", {}, {"memory_peak": PEAK})
    assert causes[0].startswith("block0/dw: 1024 B from DEPTHWISE_CONV_2D#1")
    assert sections.memory_peaks({"memory_peaks": []}).text == ["No .tflite artifact was profiled."]
