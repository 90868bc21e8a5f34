"""Can this runtime run this graph on this target, and in what precision?

Facts behind the rules: TFLite Micro has int8 and float32 kernels but no float16 ones
(tflite-micro kernels/); CMSIS-NN optimizes int8 only, so float ops use TFLM's reference
kernels; a core without an FPU runs float with software emulation (Cortex-M0+ TRM); ONNX
Runtime's CPU EP inserts casts to float32 around most fp16 ops.
"""

from __future__ import annotations

from edgekd.profile.graph import GraphSummary
from edgekd.profile.op_support import unsupported_ops
from edgekd.profile.schema import Runtime, Target


def check(
    summary: GraphSummary, target: Target, rt_name: str, runtime: Runtime
) -> tuple[list[str], list[str]]:
    """(reasons the combination is unsupported, notes on how it runs)."""
    reasons: list[str] = []
    notes: list[str] = []
    if rt_name not in target.runtimes.supported:
        reasons.append(
            f"runtime {rt_name} does not run on {target.id} "
            f"(supported: {', '.join(target.runtimes.supported)})"
        )
        return reasons, notes
    prec = summary.precision
    if prec not in runtime.precisions:
        if prec == "fp16" and target.kind != "mcu":
            notes.append(f"{rt_name} computes fp16 graphs in fp32 on CPU (casts inserted)")
        else:
            reasons.append(
                f"{rt_name} has no {prec} kernels (supported precisions: "
                f"{', '.join(runtime.precisions)}); quantize to int8"
            )
    if target.kind == "mcu" and prec in ("fp32", "fp16"):
        if not target.isa.fpu:
            notes.append(f"no FPU on {target.id}: float runs in software emulation (very slow)")
        elif rt_name == "tflm-cmsis-nn":
            notes.append("CMSIS-NN optimizes int8 only: float ops use TFLM reference kernels")
        else:
            notes.append("float runs on TFLM reference kernels; int8 is the usual MCU choice")
    bad = unsupported_ops(summary, rt_name)
    if bad:
        reasons.append(f"unsupported op(s) for {rt_name}: {', '.join(bad)}")
    native = runtime.format
    if summary.format != native:
        notes.append(f"{summary.format} graph simulated as converted for {rt_name} ({native})")
    return reasons, notes
