"""Predict latency, memory, flash and energy of a graph on a device target.

Per op, a roofline (Williams, Waterman & Patterson, "Roofline", CACM 2009) over a model of
the microarchitecture, not of the clock alone:

    rate_core = f_clock x peak_MACs_per_cycle[precision]          (target file: TRM/SWOG)
                x share[core type, kernel library, precision]     (targets/cores.yaml)
    t_op = max(MACs / (rate_core x eff[runtime, precision] x class[runtime, op class]),
               activation_bytes / bandwidth + weight_bytes / weight_bandwidth)
           + op_overhead_cycles / f_clock

The kernel library is the runtime's for that precision (``kernels`` in runtimes.yaml);
``eff`` is one of the runtime's at most three fitted factors (near 1 when the priors hold).

Multi-thread compute scales by Amdahl's law (Amdahl 1967) over the fastest cores:
``t_n = t_1 x ((1 - p) + p x peak_1 / sum(peak_i))``. Ops a runtime fuses into their
producer cost nothing. Peak RAM = tensor arena (liveness peak) x (1 + arena overhead)
+ runtime overhead (+ the model when weights are not executed in place from flash);
flash = model bytes + runtime code; energy = latency x active power.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgekd.profile.graph import GraphSummary, OpInfo
from edgekd.profile.schema import CoreCluster, Efficiency, MacsPerCycle, Runtime, Target


@dataclass
class Prediction:
    """Simulated figures for one graph on one target with one runtime."""

    latency_ms: float
    latency_ms_low: float
    latency_ms_high: float
    peak_ram_bytes: int
    flash_bytes: int
    energy_mj: float
    threads: int
    op_ms: list[tuple[OpInfo, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def predicted_dict(self) -> dict[str, float | int]:
        return {
            "latency_ms": round(self.latency_ms, 4),
            "latency_ms_low": round(self.latency_ms_low, 4),
            "latency_ms_high": round(self.latency_ms_high, 4),
            "peak_ram_bytes": self.peak_ram_bytes,
            "flash_bytes": self.flash_bytes,
            "energy_mj": round(self.energy_mj, 6),
        }

    def top_ops(self, k: int = 10) -> list[dict[str, object]]:
        """The ``k`` slowest ops; ``nth`` is the op's ordinal among ops of its type in
        execution order (1 = first Conv), so reports can say "Conv #2"."""
        seen: dict[str, int] = {}
        nth = []
        for o, _ in self.op_ms:
            seen[o.op_type] = seen.get(o.op_type, 0) + 1
            nth.append(seen[o.op_type])
        ranked = sorted(zip(self.op_ms, nth, strict=True), key=lambda p: -p[0][1])[:k]
        return [
            {"name": o.name, "op_type": o.op_type, "nth": n, "latency_ms": round(ms, 5)}
            for (o, ms), n in ranked
        ]


def default_threads(target: Target, runtime: Runtime) -> int:
    """Four threads on application processors (LiteRT's benchmark default), one on MCUs."""
    return max(1, min(4, runtime.max_threads, target.core_count))


def compute_precision(target: Target, precision: str, notes: list[str] | None = None) -> str:
    """Precision the cores actually compute in: fp16 without fp16 arithmetic runs as fp32."""
    if precision == "fp16" and any(c.macs_per_cycle.fp16 is None for c in target.cores):
        if notes is not None:
            notes.append(f"fp16 computed as fp32 on {target.id} (no fp16 arithmetic)")
        return "fp32"
    return precision


def _peak_macs(core_macs: MacsPerCycle, precision: str) -> float:
    value = getattr(core_macs, precision, None)
    return float(value if value is not None else core_macs.fp32)


def _class_factor(eff: Efficiency, op_class: str) -> float:
    """Op-class multiplier on a runtime's dense-conv efficiency."""
    if op_class == "conv":
        return 1.0
    if op_class == "depthwise":
        return eff.depthwise
    if op_class == "gemm":
        return eff.gemm
    return eff.other


def kernel_share(cluster: CoreCluster, runtime: Runtime, precision: str) -> float:
    """Share of the cluster's peak the runtime's kernel library sustains (cores.yaml); a
    runtime without ``kernels`` (a user's own) or an unknown core uses the ``generic`` core."""
    from edgekd.profile.targets import load_cores

    lib = runtime.kernels.get(precision)
    if lib is None:
        return 1.0
    cores = load_cores()
    core = cores.get(cluster.core or "", cores["generic"])
    share = core.kernels.get(lib) or cores["generic"].kernels.get(lib)
    if share is None:
        return 1.0
    value = getattr(share, precision, None)
    return float(value if value is not None else share.fp32)


def core_rates(target: Target, runtime: Runtime, precision: str, threads: int) -> list[float]:
    """Sustained dense MACs/s of each core the runtime's threads run on (fastest first)."""
    cores = target.fastest_cores(min(threads, runtime.max_threads))
    return [
        c.freq_mhz * 1e6 * _peak_macs(c.macs_per_cycle, precision)
        * kernel_share(c, runtime, precision)
        for c in cores
    ]  # fmt: skip


def op_time_s(op: OpInfo, target: Target, runtime: Runtime, threads: int) -> float:
    """Roofline time of one op (seconds); see the module docstring."""
    if op.fused:
        return 0.0
    cores = target.fastest_cores(min(threads, runtime.max_threads))
    prec = compute_precision(target, op.precision)
    eff = getattr(runtime.efficiency, prec) * _class_factor(runtime.efficiency, op.op_class)
    f0 = cores[0].freq_mhz * 1e6
    peaks = core_rates(target, runtime, prec, threads)
    compute = 0.0
    if op.macs and eff > 0 and peaks[0] > 0:
        t1 = op.macs / (peaks[0] * eff)
        p = runtime.parallel_fraction if len(peaks) > 1 else 0.0
        compute = t1 * ((1 - p) + p * peaks[0] / sum(peaks))
    mem = target.memory
    w_bw = (
        mem.flash_bandwidth_gbps
        if (mem.weights_in_flash and mem.flash_bandwidth_gbps)
        else mem.bandwidth_gbps
    )
    memory = op.act_bytes / (mem.bandwidth_gbps * 1e9) + op.weight_bytes / (w_bw * 1e9)
    return max(compute, memory) + runtime.op_overhead_cycles / f0


def simulate(
    summary: GraphSummary,
    target: Target,
    runtime: Runtime,
    threads: int | None = None,
    arena_bytes: int | None = None,
) -> Prediction:
    """Predict latency (with a low/high band), peak RAM, flash and energy.

    ``arena_bytes``: the tensor arena measured by TFLite Micro for this file; when given it
    replaces the liveness estimate (peak activations x (1 + arena_overhead)).
    """
    n = threads or default_threads(target, runtime)
    n = max(1, min(n, runtime.max_threads, target.core_count))
    notes: list[str] = []
    compute_precision(target, summary.precision, notes)
    op_ms = [(op, op_time_s(op, target, runtime, n) * 1e3) for op in summary.ops]
    latency = sum(ms for _, ms in op_ms)
    mem = target.memory
    if arena_bytes is not None:
        arena = int(arena_bytes)
        notes.append(f"RAM: tensor arena {arena:,} B measured by TFLite Micro + runtime overhead")
    else:
        arena = int(summary.peak_activation_bytes * (1 + runtime.arena_overhead))
    ram = arena + runtime.ram_overhead_bytes + (0 if mem.weights_in_flash else summary.file_bytes)
    band = runtime.band
    return Prediction(
        latency_ms=latency,
        latency_ms_low=latency / band,
        latency_ms_high=latency * band,
        peak_ram_bytes=int(ram),
        flash_bytes=int(summary.file_bytes + runtime.code_bytes),
        energy_mj=latency * target.power.active_mw / 1000.0,
        threads=n,
        op_ms=op_ms,
        notes=notes,
    )
