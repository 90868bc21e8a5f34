"""``profile()``: static analysis + host measurement + per-target simulation + verdicts.

Returns the ``profile --json`` structure of DESIGN.md (schema ``edgekd.profile/1``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekd.errors import UsageError
from edgekd.profile.budgets import judge, resolve_budget
from edgekd.profile.compat import check
from edgekd.profile.config import DEFAULT_TARGETS, TargetsConfig
from edgekd.profile.graph import GraphSummary
from edgekd.profile.op_support import host_loads, unsupported_ops
from edgekd.profile.schema import Runtime, Target
from edgekd.profile.simulate import simulate
from edgekd.profile.static import analyze
from edgekd.profile.targets import load_runtimes, load_target, runtime_names

SCHEMA = "edgekd.profile/1"


def profile(
    model: str | Path,
    targets: list[str | Path] | None = None,
    runtime: str | None = None,
    budgets: dict[str, dict[str, float]] | None = None,
    measure: bool = True,
    threads: int | None = None,
    accuracy: float | None = None,
    strict: bool = False,
    int8: bool = False,
    input_shapes: dict[str, list[int]] | None = None,
    context: int | None = None,
    prompt_tokens: int | None = None,
) -> dict[str, Any]:
    """Profile an ONNX/TFLite file (or ``zoo:NAME``) on device targets against budgets.

    ``budgets`` maps a target name (as given in ``targets``) to overrides of its default
    budgets; ``accuracy`` is checked against ``min_accuracy``; ``strict`` judges latency
    and energy by the high end of the uncertainty band; ``int8`` quantizes a ``zoo:`` model;
    ``input_shapes`` ({input name: shape}) fixes symbolic input dims for every figure.
    A language model exported by ``edgekd export-lm`` is profiled by
    ``edgekd.profile.lm_profile`` (prefill and decode, tokens/s) at ``context`` tokens of KV
    cache with a ``prompt_tokens`` prompt.
    """
    from edgekd.models.reference_export import resolve_model
    from edgekd.profile.lm_profile import is_lm_export, profile_lm

    if is_lm_export(model):
        return profile_lm(
            model, targets, runtime, budgets, measure, threads, strict, context, prompt_tokens
        )
    if context is not None or prompt_tokens is not None:
        raise UsageError(
            f"--context/--prompt-tokens: {model} is not a language model exported by "
            "`edgekd export-lm` (no edgekd_lm_export.json lists it)"
        )

    names = [str(t) for t in (targets or list(DEFAULT_TARGETS))]
    runtimes = load_runtimes()
    if runtime is not None and runtime not in runtimes:
        raise UsageError(f"unknown runtime {runtime!r}; valid runtimes: {', '.join(runtimes)}")
    loaded = [load_target(n) for n in names]
    unknown = sorted(set(budgets or {}) - set(names) - {t.id for t in loaded})
    if unknown:
        raise UsageError(
            f"budget given for target(s) {', '.join(unknown)} that are not profiled "
            f"(profiled: {', '.join(names)})"
        )
    overrides = budgets or {}
    resolved = [
        resolve_budget(t, overrides.get(n, overrides.get(t.id)))
        for n, t in zip(names, loaded, strict=True)
    ]
    path = resolve_model(model, int8=int8)  # inputs are all checked before any work
    summary = analyze(path, input_shapes)
    summary.loaded_by = host_loads(path, summary)
    mcu = _mcu_facts(summary, loaded)
    host = None
    if measure:
        from edgekd.profile.measure import measure_host

        host = measure_host(path, threads, input_shapes=summary.input_shapes)
        if host.get("latency_ms", {}).get("p50") is not None and host.get("runtime"):
            summary.loaded_by = sorted({*summary.loaded_by, host["runtime"]})
    rows = [
        _target_row(summary, t, b, runtime, runtimes, threads, accuracy, strict, mcu)
        for t, b in zip(loaded, resolved, strict=True)
    ]
    model_section = _model_section(summary)
    arena = mcu.get("arena")
    model_section["tflm_arena_bytes"] = arena.arena_bytes if arena is not None else None
    model_section["tflm"] = arena.to_dict() if arena is not None else None
    model_section["memory_peak"] = mcu.get("peak")
    return {"schema": SCHEMA, "model": model_section, "host": host, "targets": rows}


def _mcu_facts(summary: GraphSummary, targets: list[Target]) -> dict[str, Any]:
    """TFLM arena (int8 .tflite) and the activation peak's tensors (.tflite), measured once."""
    from edgekd.profile.mcu import measure_tflm, memory_peak

    return {"arena": measure_tflm(summary), "peak": memory_peak(summary)}


def profile_with(
    model: str | Path,
    config: TargetsConfig,
    accuracy: float | None = None,
    input_shapes: dict[str, list[int]] | None = None,
) -> dict[str, Any]:
    """``profile()`` driven by a recipe's ``targets:`` section; ``input_shapes`` (the data's
    real input signature) applies where the section sets none."""
    return profile(
        model,
        targets=list(config.names),
        runtime=config.runtime,
        budgets=dict(config.budgets),
        measure=config.measure,
        threads=config.threads,
        accuracy=accuracy,
        strict=config.strict,
        input_shapes=dict(config.input_shapes) or input_shapes,
    )


def _model_section(s: GraphSummary) -> dict[str, Any]:
    return {
        "path": s.path,
        "format": s.format,
        "precision": s.precision,
        "params": s.params,
        "weight_bytes": s.weight_bytes,
        "file_bytes": s.file_bytes,
        "macs": s.macs,
        "elementwise_ops": s.elementwise_ops,
        "peak_activation_bytes": s.peak_activation_bytes,
        "persistent_bytes": s.persistent_bytes,
        "input_shapes": s.input_shapes,
        "shape_notes": s.shape_notes,
        "op_types": s.op_types,
        "op_support": {rt: {"unsupported": unsupported_ops(s, rt)} for rt in runtime_names()},
    }


def _target_row(
    summary: GraphSummary,
    target: Target,
    budget: dict[str, float],
    runtime: str | None,
    runtimes: dict[str, Runtime],
    threads: int | None,
    accuracy: float | None,
    strict: bool,
    mcu: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from edgekd.profile.mcu import explain_ram, tflm_reasons

    mcu = mcu or {}
    rt_name = runtime or target.runtimes.default
    rt = runtimes[rt_name]
    reasons, notes = check(summary, target, rt_name, rt)
    arena = mcu.get("arena")
    on_tflm = rt.ops == "tflm"  # the TFLite Micro interpreter measured this file's arena
    reasons += tflm_reasons(arena, on_tflm)
    measured = arena.arena_bytes if arena is not None and on_tflm else None
    row: dict[str, Any] = {
        "name": target.id,
        "title": target.name,
        "kind": target.kind,
        "runtime": rt_name,
        "runtime_format": rt.format,  # the file format the runtime runs as it is
        "calibrated": bool(rt.fitted),
        "budget": budget,
    }
    runs_here = rt_name in target.runtimes.supported
    if not runs_here:
        row.update(predicted=dict.fromkeys(_PREDICTED_KEYS), threads=None, top_ops=[], headroom={})
        row.update(verdict="unsupported", violations=[], unsupported=reasons, notes=notes)
        return row
    pred = simulate(summary, target, rt, threads, arena_bytes=measured)
    verdict, violations, headroom = judge(pred, target, budget, rt.band, accuracy, strict)
    explain_ram(violations, mcu.get("peak"))
    if "min_accuracy" in budget and accuracy is None:
        notes.append("min_accuracy not checked: no accuracy given")
    if reasons:
        verdict = "unsupported"
    row.update(
        threads=pred.threads,
        predicted=pred.predicted_dict(),
        verdict=verdict,
        violations=violations,
        headroom=headroom,
        unsupported=reasons,
        notes=notes + pred.notes,
        top_ops=pred.top_ops(10),
    )
    return row


_PREDICTED_KEYS = (
    "latency_ms", "latency_ms_low", "latency_ms_high", "peak_ram_bytes", "flash_bytes", "energy_mj",
)  # fmt: skip
