"""Static analysis and device simulation of a decoder-only language model, prefill and decode
apart (pure functions over ``LMShape`` and the target/runtime data of
``edgekd.profile.simulate``).

Static figures (a Llama-style block: Touvron et al. 2023, "LLaMA"):

- KV cache at context ``C``: ``2 x layers x kv_heads x head_dim x C x bytes`` (the
  exported caches are float32: 4 bytes, also in int8-weight files);
- MACs per token: every matrix weight once (``params`` less the input embedding table,
  which is a lookup) plus attention ``2 x layers x heads x head_dim x c`` at context ``c``
  (QK^T and PV); prefill of ``P`` tokens sums that over positions, the output head only for
  the last one (the TFLite prefill keeps one position's logits);
- activation peak: the largest set of float32 tensors live at once, estimated from the
  block's widest tensors (residual + MLP gate/up, or the attention scores, or the logits).

Decode is bandwidth-bound (Pope et al. 2022, "Efficiently Scaling Transformer Inference";
Kim et al. 2023, "SqueezeLLM", sec. 3): each new token streams every matrix weight and the
KV cache of the context once, so

    t_token = max(bytes_read / (bandwidth x BW_SHARE), MACs / rate) + ops x overhead_cycles / f

with ``rate`` the runtime's sustained matrix-vector rate on the target's cores
(``simulate.core_rates`` x efficiency x the runtime's ``gemm`` factor, Amdahl over threads)
and ``BW_SHARE`` the share of theoretical DRAM bandwidth a CPU stream sustains. Prefill is
compute-bound: ``ttft = max(MACs / rate_gemm, weights / bandwidth)`` with the batched GEMM
rate. The band is the runtime's (``runtimes.yaml``); energy per token is ``t_token x active
power``. These are priors from documents, not fitted to LM measurements.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from edgekd.profile.schema import Runtime, Target
from edgekd.runtime.lm_files import LMShape

CACHE_BYTES = 4  # float32 KV cache in the exported files
ACT_BYTES = 4  # float32 activations (also with dynamic-range int8 weights)
BW_SHARE = 0.6  # prior, not calibrated: the share of the theoretical DRAM bandwidth (the
# target file's figure) that one CPU read stream sustains; the runtime's band covers the spread


@dataclass(frozen=True)
class LMStatic:
    """Prefill and decode figures of one exported file at one context and prompt length."""

    params: int
    weight_bytes: int  # constant tensors in the file (TFLite buffers, ONNX initializers)
    file_bytes: int
    bytes_per_param: float  # as the runtime reads them per token
    dequantized_bytes: int  # float copies the runtime makes of weight-only int8 weights
    context: int
    prompt_tokens: int
    kv_cache_bytes: int
    kv_bytes_per_token: int
    decode_macs: int
    decode_bytes_read: int
    decode_activation_bytes: int
    prefill_macs: int
    prefill_activation_bytes: int

    def to_dict(self) -> dict[str, int | float]:
        return asdict(self)


def kv_bytes_per_token(s: LMShape, nbytes: int = CACHE_BYTES) -> int:
    return 2 * s.layers * s.kv_heads * s.head_dim * nbytes


def kv_cache_bytes(s: LMShape, context: int, nbytes: int = CACHE_BYTES) -> int:
    """2 x layers x kv_heads x head_dim x context x bytes."""
    return kv_bytes_per_token(s, nbytes) * context


def _matrix_params(s: LMShape) -> int:
    """Parameters used as matrices per token: all but the input embedding lookup (a tied
    head still reads the whole table once)."""
    return s.params if s.tied_embeddings else s.params - s.vocab_size * s.hidden


def _attn_macs(s: LMShape, context: int) -> int:
    return 2 * s.layers * s.heads * s.head_dim * context


def _act_peak(s: LMShape, tokens: int, context: int, logits_rows: int) -> int:
    block = tokens * (2 * s.hidden + 2 * s.intermediate)  # residual, normed input, gate, up
    scores = tokens * s.heads * context + tokens * (s.hidden + 2 * s.kv_heads * s.head_dim)
    logits = logits_rows * s.vocab_size + tokens * s.hidden
    return ACT_BYTES * max(block, scores, logits)


def analyze_lm(
    s: LMShape,
    weight_bytes: int,
    file_bytes: int,
    context: int,
    prompt_tokens: int,
    fixed_cache: bool,
    weight_only: bool = False,
) -> LMStatic:
    """Static figures; ``context`` is the KV cache length, ``prompt_tokens`` the prefill.
    ``fixed_cache``: the file attends over its whole cache at every step (TFLite's static
    cache with a mask), not only over the tokens so far (ONNX's growing past).
    ``weight_only``: int8 weights dequantized to float32 before their op (ai-edge-quantizer's
    ``weight_only_wi8_afp32``: "explicitly dequantized ... to enable float compute"); TFLite's
    DEQUANTIZE of a constant runs once at preparation, so the runtime holds and streams float
    weights (measured here: such a file decodes at the fp32 file's rate, the dynamic-range one
    twice as fast)."""
    bpp = 4.0 if weight_only else weight_bytes / max(1, s.params)
    matrix = _matrix_params(s)
    embed_row = int(s.hidden * bpp)
    head_macs = s.vocab_size * s.hidden
    body_macs = matrix - head_macs if matrix > head_macs else matrix
    if fixed_cache:
        prefill_attn = prompt_tokens * _attn_macs(s, context)
    else:
        prefill_attn = sum(_attn_macs(s, c) for c in range(1, prompt_tokens + 1))
    return LMStatic(
        params=s.params,
        weight_bytes=weight_bytes,
        file_bytes=file_bytes,
        bytes_per_param=round(bpp, 4),
        dequantized_bytes=4 * s.params if weight_only else 0,
        context=context,
        prompt_tokens=prompt_tokens,
        kv_cache_bytes=kv_cache_bytes(s, context),
        kv_bytes_per_token=kv_bytes_per_token(s),
        decode_macs=matrix + _attn_macs(s, context),
        decode_bytes_read=int(matrix * bpp) + embed_row + kv_cache_bytes(s, context),
        decode_activation_bytes=_act_peak(s, 1, context, 1),
        prefill_macs=prompt_tokens * body_macs + head_macs + prefill_attn,
        prefill_activation_bytes=_act_peak(s, prompt_tokens, context, 1),
    )


@dataclass(frozen=True)
class LMPrediction:
    tokens_per_s: float
    tokens_per_s_low: float
    tokens_per_s_high: float
    decode_ms: float
    decode_bound: str  # "memory" | "compute"
    ttft_ms: float
    ttft_ms_low: float
    ttft_ms_high: float
    peak_ram_bytes: int
    flash_bytes: int
    kv_cache_bytes: int
    energy_mj_per_token: float
    threads: int

    def predicted_dict(self) -> dict[str, float | int | str]:
        """``predicted`` of ``profile --json``; ``latency_ms`` is one decode step."""
        d = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}
        d.pop("threads")
        band_low = self.decode_ms * self.tokens_per_s / self.tokens_per_s_high
        d.update(
            latency_ms=round(self.decode_ms, 4),
            latency_ms_low=round(band_low, 4),
            latency_ms_high=round(self.decode_ms * self.tokens_per_s / self.tokens_per_s_low, 4),
            energy_mj=round(self.energy_mj_per_token, 6),
        )
        return d


def _rate(target: Target, runtime: Runtime, precision: str, threads: int, op_class: str) -> float:
    """Sustained MACs/s of the runtime on ``threads`` cores (Amdahl, as ``simulate``)."""
    from edgekd.profile.simulate import _class_factor, compute_precision, core_rates

    prec = compute_precision(target, precision)
    peaks = core_rates(target, runtime, prec, threads)
    eff = getattr(runtime.efficiency, prec) * _class_factor(runtime.efficiency, op_class)
    p = runtime.parallel_fraction if len(peaks) > 1 else 0.0
    return peaks[0] * eff / ((1 - p) + p * peaks[0] / sum(peaks))


def simulate_lm(
    st: LMStatic,
    s: LMShape,
    target: Target,
    runtime: Runtime,
    compute_precision: str,
    threads: int,
    ops: tuple[int, int],
) -> LMPrediction:
    """Decode tokens/s and time to first token on ``target`` (module docstring); ``ops`` is
    the (prefill, decode) op count of the file, each op paying the runtime's dispatch."""
    mem = target.memory
    bw = mem.bandwidth_gbps * 1e9 * BW_SHARE
    f0 = target.fastest_cores(1)[0].freq_mhz * 1e6
    overhead = ops[1] * runtime.op_overhead_cycles / f0
    fill_overhead = ops[0] * runtime.op_overhead_cycles / f0
    t_mem = st.decode_bytes_read / bw
    t_comp = st.decode_macs / _rate(target, runtime, compute_precision, threads, "gemm")
    decode_s = max(t_mem, t_comp) + overhead
    # prefill: batched GEMM at the dense-conv rate (class factor 1), weights read once
    t_fill = (
        max(
            st.prefill_macs / _rate(target, runtime, compute_precision, threads, "conv"),
            (st.weight_bytes + kv_cache_bytes(s, st.prompt_tokens)) / bw,
        )
        + fill_overhead
    )
    band = runtime.band
    act = max(st.decode_activation_bytes, st.prefill_activation_bytes)
    weights_in_ram = st.dequantized_bytes + (0 if mem.weights_in_flash else st.file_bytes)
    tps = 1.0 / decode_s
    return LMPrediction(
        tokens_per_s=tps,
        tokens_per_s_low=tps / band,
        tokens_per_s_high=tps * band,
        decode_ms=decode_s * 1e3,
        decode_bound="memory" if t_mem >= t_comp else "compute",
        ttft_ms=t_fill * 1e3,
        ttft_ms_low=t_fill * 1e3 / band,
        ttft_ms_high=t_fill * 1e3 * band,
        peak_ram_bytes=int(weights_in_ram + st.kv_cache_bytes + act + runtime.ram_overhead_bytes),
        flash_bytes=int(st.file_bytes + runtime.code_bytes),
        kv_cache_bytes=st.kv_cache_bytes,
        energy_mj_per_token=decode_s * 1e3 * target.power.active_mw / 1000.0,
        threads=threads,
    )
