from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from edgekd.errors import UsageError
from edgekd.profile.budgets import judge, resolve_budget
from edgekd.profile.simulate import simulate
from edgekd.profile.static import analyze
from edgekd.profile.targets import load_runtimes, load_target


def _scaled(summary, k: int):  # noqa: ANN001, ANN202
    ops = [dataclasses.replace(op, macs=op.macs * k) for op in summary.ops]
    return dataclasses.replace(summary, ops=ops, macs=summary.macs * k)


@pytest.mark.parametrize("target", ["pixel-4", "rpi-4", "nucleo-l4r5zi", "esp32-s3"])
def test_latency_monotone_in_macs(big_onnx: Path, tiny_onnx: Path, target: str) -> None:
    s = analyze(big_onnx)
    t = load_target(target)
    rt = load_runtimes()[t.runtimes.default]
    times = [simulate(_scaled(s, k), t, rt).latency_ms for k in (1, 2, 8)]
    assert times[0] < times[1] < times[2]
    small = simulate(analyze(tiny_onnx), t, rt).latency_ms
    assert small < times[0]


@pytest.mark.parametrize("target", ["pixel-3", "rpi-5", "nucleo-h7a3zi"])
def test_int8_faster_than_fp32_where_supported(big_onnx: Path, big_int8: Path, target: str) -> None:
    t = load_target(target)
    rt = load_runtimes()[t.runtimes.default]
    assert (
        simulate(analyze(big_int8), t, rt).latency_ms
        < simulate(analyze(big_onnx), t, rt).latency_ms
    )


def test_band_energy_memory(big_onnx: Path) -> None:
    s = analyze(big_onnx)
    runtimes = load_runtimes()
    phone, mcu = load_target("pixel-4"), load_target("nucleo-l4r5zi")
    p = simulate(s, phone, runtimes["litert"])
    assert p.latency_ms_low < p.latency_ms < p.latency_ms_high
    assert p.energy_mj == pytest.approx(p.latency_ms * phone.power.active_mw / 1000)
    assert p.peak_ram_bytes >= s.peak_activation_bytes + s.file_bytes  # weights loaded to RAM
    assert p.flash_bytes == s.file_bytes + runtimes["litert"].code_bytes
    tflm = runtimes["tflm"]
    m = simulate(s, mcu, tflm)
    # weights stay in flash: RAM is the arena (liveness peak + planner overhead) + runtime
    arena = int(s.peak_activation_bytes * (1 + tflm.arena_overhead))
    assert m.peak_ram_bytes == arena + tflm.ram_overhead_bytes
    assert m.threads == 1 and p.threads == 4
    ops = m.top_ops(3)
    assert len(ops) == 3 and ops[0]["latency_ms"] >= ops[1]["latency_ms"]


def test_threads_speed_up_phone(big_onnx: Path) -> None:
    s = _scaled(analyze(big_onnx), 100)  # compute-bound, so threads matter
    t, rt = load_target("pixel-4"), load_runtimes()["litert"]
    assert simulate(s, t, rt, threads=4).latency_ms < simulate(s, t, rt, threads=1).latency_ms


def test_budget_verdicts_and_headroom(big_onnx: Path) -> None:
    s = analyze(big_onnx)
    t, rt = load_target("pixel-4"), load_runtimes()["litert"]
    pred = simulate(s, t, rt)
    ok = resolve_budget(t, {"latency_ms": pred.latency_ms * 2})
    verdict, violations, headroom = judge(pred, t, ok, rt.band)
    assert verdict == "pass" and violations == []
    assert headroom["latency_ms"] == pytest.approx(50.0, abs=0.01)
    tight = resolve_budget(t, {"latency_ms": pred.latency_ms / 2, "min_accuracy": 0.9})
    verdict, violations, headroom = judge(pred, t, tight, rt.band, accuracy=0.8)
    assert verdict == "fail" and headroom["latency_ms"] < 0
    assert {v["key"] for v in violations} == {"latency_ms", "min_accuracy"}
    # strict judges by the high end of the band
    mid = resolve_budget(t, {"latency_ms": pred.latency_ms * 1.1})
    assert judge(pred, t, mid, rt.band)[0] == "pass"
    assert judge(pred, t, mid, rt.band, strict=True)[0] == "fail"


def test_unknown_budget_key() -> None:
    with pytest.raises(UsageError, match="unknown budget key 'latency'.*latency_ms") as e:
        resolve_budget(load_target("pixel-4"), {"latency": 5})
    assert e.value.exit_code == 2


def _per_clock(target: str, summary, threads: int = 1) -> float:  # noqa: ANN001
    """Simulated MACs per cycle of the fastest core (clock divided out)."""
    t = load_target(target)
    ms = simulate(summary, t, load_runtimes()[t.runtimes.default], threads).latency_ms
    return summary.macs / (ms * 1e-3) / (t.fastest_cores(1)[0].freq_mhz * 1e6)


def test_microarchitecture_not_clock(big_onnx: Path, big_int8: Path) -> None:
    """A76 has twice A75's ASIMD width; M7 dual-issues CMSIS-NN's loads (about 2x M4 per
    cycle); M0+ has no DSP MAC; int8 beats fp32 per cycle on an A72 without SDOT."""
    fp, q = analyze(big_onnx), analyze(big_int8)
    assert _per_clock("pixel-4", fp) > 1.5 * _per_clock("pixel-3", fp)
    assert _per_clock("stm32f746-disco", q) > 1.5 * _per_clock("nucleo-l4r5zi", q)
    assert _per_clock("nucleo-g0b1re", q) < 0.5 * _per_clock("nucleo-l4r5zi", q)
    assert _per_clock("rpi-4", q) > _per_clock("rpi-4", fp)


def test_measured_arena_replaces_the_estimate(big_int8: Path) -> None:
    s = analyze(big_int8)
    rt = load_runtimes()["tflm-cmsis-nn"]
    p = simulate(s, load_target("nucleo-l4r5zi"), rt, arena_bytes=12345)
    assert p.peak_ram_bytes == 12345 + rt.ram_overhead_bytes
    assert any("measured by TFLite Micro" in n for n in p.notes)
