"""The report's top section: compression regressions said in words, and the artifact to ship
per target (most accurate that passes, never one that regresses against a passing reference,
or none fits and by how much)."""

from __future__ import annotations

import copy
import io
from typing import Any

from edgekd.report.build import build_report, render
from edgekd.report.ship import compression_steps, recommend, sentence


def _target(name: str, lat: float, verdict: str = "pass", **extra: Any) -> dict[str, Any]:
    runtime = "tflm-cmsis-nn" if name == "mcu" else "litert"
    return {"name": name.replace("mcu", "nano-33-ble"), "runtime": runtime,
            "runtime_format": "tflite",
            "predicted": {"latency_ms": lat}, "verdict": verdict,
            "violations": extra.get("violations", []), "budget": {}}  # fmt: skip


def _art(aid: str, fmt: str, prec: str, parent: str | None, size: int, acc: float,
         stage: str = "export") -> dict[str, Any]:  # fmt: skip
    return {"id": aid, "format": fmt, "precision": prec, "parent": parent, "stage": stage,
            "file_bytes": size, "metrics": {"accuracy": acc}, "status": "ok"}  # fmt: skip


def _raw(art: dict[str, Any], host: float | None, targets: list[dict[str, Any]]) -> dict:
    prof = {"host": {"latency_ms": {"p50": host}}, "targets": targets}
    return {**art, "extra": {"profile": prof}}


def world() -> tuple[list[dict], list[dict]]:
    """A pruned torch model; its ONNX export; an int8 ONNX child larger and slower on the
    host; fp32 and int8 TFLite siblings where int8 is predicted slower on the phone only."""
    arts = [
        _art("student", "torch", "fp32", None, 20_000, 0.99, stage="distill"),
        _art("pruned", "torch", "fp32", "student", 12_000, 0.98, stage="prune"),
        _art("onnx", "onnx", "fp32", "pruned", 5_000, 0.98),
        _art("onnx-int8", "onnx", "int8", "onnx", 8_000, 0.98, stage="quantize"),
        _art("tfl-fp32", "tflite", "fp32", "pruned", 9_000, 0.98),
        _art("tfl-int8", "tflite", "int8", "pruned", 4_000, 0.98),
    ]
    raw = [
        {**arts[0], "extra": {}},
        {**arts[1], "extra": {"prune": {"host_latency_ms": {"before": 0.05, "after": 0.03}}}},
        _raw(arts[2], 0.010, [_target("phone", 0.04), _target("mcu", 4.0)]),
        _raw(arts[3], 0.020, [_target("phone", 0.03), _target("mcu", 2.0)]),
        _raw(arts[4], 0.004, [_target("phone", 0.04), _target("mcu", 6.0)]),
        _raw(arts[5], 0.004, [_target("phone", 0.05), _target("mcu", 3.0)]),
    ]
    return arts, raw


def profiles(raw: list[dict]) -> list[dict]:
    return [{"artifact": a["id"], **a["extra"]["profile"]} for a in raw if "profile" in a["extra"]]


def test_every_compression_step_is_measured_against_its_reference_and_regressions_said():
    arts, raw = world()
    steps = {s["artifact"]: s for s in compression_steps(arts, raw)}
    assert {k: v["reference"] for k, v in steps.items()} == {
        "pruned": "student", "onnx-int8": "onnx", "tfl-int8": "tfl-fp32",
    }  # fmt: skip
    pruned = steps["pruned"]
    assert pruned["size_ratio"] == 0.6 and pruned["host_speedup"] > 1
    assert pruned["regressions"] == []
    where = {s: [r["where"] for r in v["regressions"]] for s, v in steps.items()}
    assert where["onnx-int8"] == ["size", "host"]  # 1.6x larger, 2x slower on the host
    assert where["tfl-int8"] == ["phone"]  # predicted slower on the phone, faster on the MCU
    words = [r["message"] for r in steps["onnx-int8"]["regressions"]]
    assert words[0] == "onnx-int8 is 1.60x larger than onnx (8,000 B vs 5,000 B)"
    assert words[1].startswith("onnx-int8 runs 2.00x slower than onnx on this host")


def test_a_regression_is_not_shipped_where_its_reference_fits_too():
    arts, raw = world()
    picks = recommend(arts, profiles(raw), compression_steps(arts, raw))
    # phone: every student passes at 98%; onnx-int8 is larger, tfl-int8 predicted slower
    phone = picks["phone"]
    assert phone["fits"] and phone["artifact"] not in ("onnx-int8", "tfl-int8")
    assert {s["artifact"] for s in phone["skipped"]} == {"onnx-int8", "tfl-int8"}
    # the MCU runs .tflite: equal accuracy, the native file first, the int8 one (faster there)
    assert picks["nano-33-ble"]["artifact"] == "tfl-int8"
    text = sentence("phone", phone)
    assert "not `onnx-int8` (1.60x larger than onnx)" in text


def test_a_regression_that_alone_fits_is_still_shipped():
    arts, raw = world()
    for a in raw:
        if a["id"] in ("onnx", "tfl-fp32"):
            for t in a["extra"]["profile"]["targets"]:
                t["verdict"] = "fail"
    picks = recommend(arts, profiles(raw), compression_steps(arts, raw))
    assert picks["phone"]["artifact"] in ("onnx-int8", "tfl-int8")
    assert picks["phone"]["skipped"] == []


def test_none_fits_names_the_closest_and_each_budget_overshoot():
    arts, raw = world()
    for a in raw:
        for t in a["extra"].get("profile", {}).get("targets", []):
            over = 2.0 if a["id"] == "tfl-int8" else 3.0
            t["verdict"] = "fail"
            t["violations"] = [{"key": "latency_ms", "value": over, "limit": 1.0}]
    pick = recommend(arts, profiles(raw), compression_steps(arts, raw))["nano-33-ble"]
    assert pick["artifact"] is None and not pick["fits"]
    assert pick["closest"] == "tfl-int8"
    assert pick["failing"] == [{"key": "latency_ms", "value": 2.0, "limit": 1.0,
                                "over_pct": 100.0}]  # fmt: skip
    assert sentence("nano-33-ble", pick) == (
        "**nano-33-ble**: none fits; the closest, `tfl-int8`, fails latency 2.00 ms > "
        "1.00 ms (100.0% over)"
    )


def test_the_top_section_leads_every_report_format(grown_manifest, tmp_path):
    from rich.console import Console

    from edgekd.report.summary import print_summary

    m = copy.deepcopy(grown_manifest)
    child = next(a for a in m["artifacts"] if a["id"] == "student-int8")
    child["file_bytes"] = 10 * next(
        a["file_bytes"] for a in m["artifacts"] if a["id"] == "student-onnx"
    )
    r = build_report(m)
    (step,) = r["compression"]
    assert step["artifact"] == "student-int8" and step["regressions"][0]["where"] == "size"
    assert r["chosen"]["pixel-4"]["artifact"] == "student-onnx"  # not the 10x larger child
    md = render(r, "md")
    assert md.index("## What to ship") < md.index("## Verdicts")
    assert "student-int8 is 10.00x larger than student-onnx" in md
    html = render(r, "html")
    assert html.index("What to ship") < html.index("Verdicts")
    con = Console(width=120, record=True, file=io.StringIO())
    print_summary(tmp_path, r, m, con=con)
    out = con.export_text()
    assert "pixel-4: ship student-onnx" in out
    assert "regression: student-int8 is 10.00x larger than student-onnx" in out


def test_the_reports_floor_budgets_are_the_profilers():
    """report.fmt keeps its own copy (profile imports report, not the other way round)."""
    from edgekd.profile.budgets import FLOOR_KEYS
    from edgekd.report.fmt import FLOORS

    assert FLOORS == FLOOR_KEYS
