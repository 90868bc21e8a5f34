"""LM static analysis and simulation: formulas and properties that hold for any target."""

from __future__ import annotations

import pytest

from edgekd.profile.lm_simulate import BW_SHARE, analyze_lm, kv_cache_bytes, simulate_lm
from edgekd.profile.targets import load_runtimes, load_target
from edgekd.runtime.lm_files import LMShape

# SmolLM2-135M's shape (config.json of HuggingFaceTB/SmolLM2-135M-Instruct)
SMOL = LMShape("llama", 30, 576, 1536, 9, 3, 64, 49152, 8192, 134_515_008, 2, True)


def _predict(
    shape, bytes_per_param, target="pixel-4", context=512, prompt=64, precision="fp32", wo=False
):
    w = int(shape.params * bytes_per_param)
    st = analyze_lm(shape, w, w, context, prompt, fixed_cache=True, weight_only=wo)
    t = load_target(target)
    rt = load_runtimes()["litert"]
    return st, simulate_lm(st, shape, t, rt, precision, 4, (400, 400))


def test_kv_cache_formula():
    assert kv_cache_bytes(SMOL, 1) == 2 * 30 * 3 * 64 * 4
    assert kv_cache_bytes(SMOL, 2048) == 2 * 30 * 3 * 64 * 2048 * 4
    st, _ = _predict(SMOL, 4.0, context=2048)
    assert st.kv_cache_bytes == kv_cache_bytes(SMOL, 2048)


def test_decode_is_bandwidth_bound_and_under_the_roofline():
    st, p = _predict(SMOL, 4.0)
    assert p.decode_bound == "memory"
    bw = load_target("pixel-4").memory.bandwidth_gbps * 1e9 * BW_SHARE
    assert p.tokens_per_s <= bw / st.decode_bytes_read
    assert p.tokens_per_s_low < p.tokens_per_s < p.tokens_per_s_high
    assert p.ttft_ms_low < p.ttft_ms < p.ttft_ms_high


def test_properties_across_precision_context_and_target():
    _, fp32 = _predict(SMOL, 4.0)
    _, int8 = _predict(SMOL, 1.0, precision="int8")
    assert int8.tokens_per_s > 2 * fp32.tokens_per_s  # a quarter of the bytes to stream
    _, long = _predict(SMOL, 4.0, context=4096)
    assert long.tokens_per_s < fp32.tokens_per_s and long.kv_cache_bytes > fp32.kv_cache_bytes
    assert long.peak_ram_bytes > fp32.peak_ram_bytes
    _, pi = _predict(SMOL, 4.0, target="rpi-5")  # half the bandwidth of the Pixel 4
    assert pi.tokens_per_s < fp32.tokens_per_s
    _, short = _predict(SMOL, 4.0, prompt=8)
    assert short.ttft_ms < fp32.ttft_ms
    assert fp32.energy_mj_per_token == pytest.approx(fp32.decode_ms * 3500 / 1000)


def test_prefill_counts_every_prompt_token():
    st8, _ = _predict(SMOL, 4.0, prompt=8)
    st64, _ = _predict(SMOL, 4.0, prompt=64)
    assert st64.prefill_macs > 7 * st8.prefill_macs
    assert st64.prefill_activation_bytes > st8.prefill_activation_bytes


def test_weight_only_int8_streams_float_weights():
    """Weight-only int8 shrinks the file, not the per-token traffic or the RAM."""
    _, fp32 = _predict(SMOL, 4.0)
    st, wo = _predict(SMOL, 1.0, wo=True)
    assert wo.tokens_per_s == pytest.approx(fp32.tokens_per_s)
    assert wo.flash_bytes < fp32.flash_bytes and wo.peak_ram_bytes > fp32.peak_ram_bytes
    assert st.dequantized_bytes == 4 * SMOL.params
