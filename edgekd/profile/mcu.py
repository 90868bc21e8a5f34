"""Microcontroller facts measured, not estimated: the TFLM arena, op support and the
tensors live at the activation peak (which ops a RAM violation comes from)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgekd.profile.graph import GraphSummary

if TYPE_CHECKING:
    from edgekd.runtime.tflm import TflmArena


def measure_tflm(summary: GraphSummary) -> TflmArena | None:
    """TFLM's arena for an int8 .tflite file (DESIGN: ``model.tflm_arena_bytes``); None for
    other files or when tflite-micro is not installed."""
    from edgekd.runtime.tflm import measure_arena, tflm_available

    if summary.format != "tflite" or summary.precision != "int8" or not tflm_available():
        return None
    return measure_arena(summary.path)


def memory_peak(summary: GraphSummary, top: int = 5) -> dict[str, Any] | None:
    """The op where live activations peak and the largest tensors live there (.tflite)."""
    if summary.format != "tflite":
        return None
    from edgekd.runtime.tflite_memory import memory_timeline, peak_summary

    tl = memory_timeline(summary.path)
    return {
        "peak_bytes": tl["peak_bytes"],
        "op": tl["peak_op"],
        "live": tl["live"][:top],
        "summary": peak_summary(tl),
    }


def tflm_reasons(arena: TflmArena | None, on_tflm: bool) -> list[str]:
    """Why a TFLM runtime cannot run the file, from what the interpreter failed to resolve."""
    if arena is None or arena.ok or not on_tflm:
        return []
    ops = ", ".join(arena.unsupported_ops)
    if ops:
        return [f"TFLite Micro has no kernel for op(s) {ops} (tflite-micro interpreter)"]
    return [f"TFLite Micro cannot allocate this model: {arena.error}"]


def explain_ram(violations: list[dict[str, Any]], peak: dict[str, Any] | None) -> None:
    """Append the ops behind the activation peak to a RAM violation's message."""
    if peak is None:
        return
    for v in violations:
        if v.get("key") == "ram_bytes":
            v["message"] += f" ({peak['summary']})"
            v["peak_op"] = peak["op"]
