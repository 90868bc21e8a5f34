"""``edgekd profile`` for an exported language model (a file listed in an
``edgekd_lm_export.json``): static analysis of prefill and decode, the host's measured
tokens/s, and per target the predicted decode tokens/s, time to first token, KV cache, RAM,
flash and energy per token against budgets (``edgekd.profile.lm_simulate``).

Budgets per target: ``tokens_per_s`` (at least), ``ttft_ms``, ``ram_bytes``, ``flash_bytes``,
``energy_mj`` (per token) and ``kv_cache_bytes`` (at most). ``ram_bytes``/``flash_bytes``
default to the target's; ``tokens_per_s`` and ``ttft_ms`` to :data:`LM_DEFAULTS`. Verdicts
are ``pass``/``fail``/``unsupported`` as for any model, and ``--fail-on-budget`` exits 3.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from edgekd.errors import ModelFileError, UsageError
from edgekd.profile.budgets import verdict as budget_verdict
from edgekd.profile.lm_simulate import LMPrediction, analyze_lm, kv_bytes_per_token, simulate_lm
from edgekd.profile.schema import Target
from edgekd.runtime.lm_files import LMShape, entry, read_sidecar, shape_of

SCHEMA = "edgekd.profile/1"
LM_BUDGET_KEYS = (
    "tokens_per_s",
    "ttft_ms",
    "ram_bytes",
    "flash_bytes",
    "energy_mj",
    "kv_cache_bytes",
)
# edgekd defaults for a chat feature: generate faster than people read (238 words/min silent
# reading, Brysbaert 2019, J. Memory and Language 109, ~5.3 tokens/s at 0.75 words/token) with
# headroom, and answer within the 1 s that keeps a user's flow of thought (Nielsen 1993,
# "Usability Engineering", ch. 5).
LM_DEFAULTS = {"tokens_per_s": 8.0, "ttft_ms": 1000.0}
RUNTIME_OF = {".tflite": "litert", ".onnx": "onnxruntime"}


def is_lm_export(model: str | Path) -> bool:
    p = Path(str(model))
    return p.suffix in RUNTIME_OF and p.is_file() and read_sidecar(p) is not None


def resolve_lm_budget(
    target: Target, overrides: dict[str, float] | None, shape: LMShape
) -> dict[str, float]:
    """Target RAM/flash budgets, :data:`LM_DEFAULTS`, then ``overrides`` (checked)."""
    budget: dict[str, float] = dict(LM_DEFAULTS)
    for key in ("ram_bytes", "flash_bytes"):
        value = getattr(target.budgets, key)
        if value is not None:
            budget[key] = float(value)
    for key, value in (overrides or {}).items():
        if key not in LM_BUDGET_KEYS:
            raise UsageError(
                f"unknown budget key {key!r} for a language model on {target.id}; "
                f"valid keys: {', '.join(LM_BUDGET_KEYS)}"
            )
        v = float(value)
        if v < 0:
            raise UsageError(f"budget {target.id}.{key} must be >= 0, got {v:g}")
        budget[key] = v
    per_token = kv_bytes_per_token(shape)
    if "kv_cache_bytes" in budget and budget["kv_cache_bytes"] < per_token:
        raise UsageError(
            f"budget {target.id}.kv_cache_bytes={budget['kv_cache_bytes']:g} cannot hold one "
            f"token: the KV cache needs {per_token:,} bytes per token (2 x {shape.layers} layers "
            f"x {shape.kv_heads} KV heads x {shape.head_dim} x 4 bytes)"
        )
    return budget


def judge_lm(
    pred: LMPrediction, target: Target, budget: dict[str, float], strict: bool
) -> tuple[str, list[dict[str, Any]], dict[str, float]]:
    """(verdict, violations, headroom %); ``strict`` judges speed by the band's slow end."""
    values = {
        "tokens_per_s": pred.tokens_per_s_low if strict else pred.tokens_per_s,
        "ttft_ms": pred.ttft_ms_high if strict else pred.ttft_ms,
        "ram_bytes": float(pred.peak_ram_bytes),
        "flash_bytes": float(pred.flash_bytes),
        "energy_mj": pred.energy_mj_per_token,
        "kv_cache_bytes": float(pred.kv_cache_bytes),
    }
    return budget_verdict(values, target, budget, units={"energy_mj": "mJ/token"})


def file_facts(path: Path) -> tuple[int, int, int, int]:
    """(ops of one prefill call, ops of one decode call, prefill length or 0 for any,
    weight bytes: ONNX initializers, TFLite buffers)."""
    if path.suffix == ".onnx":
        import numpy as np

        from edgekd.runtime.onnx import read_onnx

        g = read_onnx(path).graph
        onnx = __import__("onnx")
        weights = sum(
            int(np.prod(t.dims)) * onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
            for t in g.initializer
        )
        return len(g.node), len(g.node), 0, weights
    from ai_edge_litert import schema_py_generated as sch

    m = sch.Model.GetRootAsModel(path.read_bytes(), 0)
    weights = sum(
        m.Buffers(i).DataLength() or int(m.Buffers(i).Size()) for i in range(m.BuffersLength())
    )
    prefill, decode, length = 0, 0, 0
    for i in range(m.SignatureDefsLength()):
        sd = m.SignatureDefs(i)
        key = (sd.SignatureKey() or b"").decode()
        ops = m.Subgraphs(sd.SubgraphIndex()).OperatorsLength()
        if key == "decode":
            decode = ops
        elif key.startswith("prefill_"):
            prefill, length = ops, int(key.rsplit("_", 1)[1])
    return prefill, decode, length, weights


def _lengths(rec: dict[str, Any], shape: LMShape, context: int | None, prompt: int | None):
    """(context, prompt tokens), checked: a context above what the model or the file holds
    and a prompt longer than the context are usage errors."""
    file_ctx = rec.get("cache_length") or shape.max_context
    ctx = context if context is not None else (file_ctx or 2048)
    if ctx < 1:
        raise UsageError(f"--context {ctx}: expected at least 1 token")
    if shape.max_context is not None and ctx > shape.max_context:
        raise UsageError(
            f"--context {ctx}: above the model's maximum context of {shape.max_context} tokens "
            "(max_position_embeddings)"
        )
    if rec.get("cache_length") and ctx > rec["cache_length"]:
        raise UsageError(
            f"--context {ctx}: above this file's KV cache of {rec['cache_length']} tokens "
            "(export with a longer --cache-length)"
        )
    p = prompt if prompt is not None else min(32, ctx)
    if not 1 <= p <= ctx:
        raise UsageError(f"--prompt-tokens {p}: expected 1 to the context ({ctx})")
    return ctx, p


def measure_lm_host(
    path: Path, prompt_tokens: int, new_tokens: int, threads: int
) -> dict[str, Any]:
    """Prefill ``prompt_tokens`` and decode ``new_tokens`` with the shipping runtime in a
    fresh process (``edgekd.profile.lm_host``): measured ttft_ms, tokens/s and peak RSS."""
    cmd = [sys.executable, "-m", "edgekd.profile.lm_host", str(path), str(prompt_tokens),
           str(new_tokens), str(threads)]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        return {"error": f"host measurement failed: {exc}", "threads": threads}
    return result


def profile_lm(
    model: str | Path,
    targets: list[str | Path] | None = None,
    runtime: str | None = None,
    budgets: dict[str, dict[str, float]] | None = None,
    measure: bool = True,
    threads: int | None = None,
    strict: bool = False,
    context: int | None = None,
    prompt_tokens: int | None = None,
    new_tokens: int = 32,
) -> dict[str, Any]:
    """The ``profile --json`` structure for an exported LM (module docstring)."""
    from edgekd.profile.config import DEFAULT_TARGETS
    from edgekd.profile.simulate import default_threads
    from edgekd.profile.targets import load_runtimes, load_target

    path = Path(str(model))
    doc = read_sidecar(path)
    if doc is None:
        raise ModelFileError(f"{path}: not listed in an edgekd_lm_export.json next to it")
    rec, shape = entry(doc, path), shape_of(doc)
    ctx, prompt = _lengths(rec, shape, context, prompt_tokens)
    names = [str(t) for t in (targets or list(DEFAULT_TARGETS))]
    loaded = [load_target(n) for n in names]
    overrides = budgets or {}
    unknown = sorted(set(overrides) - set(names) - {t.id for t in loaded})
    if unknown:
        raise UsageError(f"budget given for target(s) {', '.join(unknown)} that are not profiled")
    resolved = [resolve_lm_budget(t, overrides.get(n, overrides.get(t.id)), shape)
                for n, t in zip(names, loaded, strict=True)]  # fmt: skip
    fill_ops, decode_ops, chunk, weights = file_facts(path)
    calls = (prompt // chunk + prompt % chunk) if chunk else 1  # full chunks + decoded rest
    fixed = rec.get("cache_length") is not None
    quant = rec.get("quantization", "fp32")
    st = analyze_lm(
        shape, weights, path.stat().st_size, ctx, prompt, fixed, weight_only=quant == "weight_int8"
    )
    compute = "int8" if quant == "dynamic_int8" else "fp32"
    host = (
        measure_lm_host(path, prompt, min(new_tokens, ctx - prompt), threads or 1)
        if (measure and ctx > prompt)
        else None
    )
    runtimes = load_runtimes()
    rt_name = runtime or RUNTIME_OF[path.suffix]
    if rt_name not in runtimes:
        raise UsageError(f"unknown runtime {rt_name!r}; valid: {', '.join(runtimes)}")
    rows = []
    for t, budget in zip(loaded, resolved, strict=True):
        row: dict[str, Any] = {"name": t.id, "title": t.name, "kind": t.kind, "runtime": rt_name,
                               "budget": budget, "notes": []}  # fmt: skip
        rt = runtimes[rt_name]
        if rt_name not in t.runtimes.supported or t.kind == "mcu":
            why = (
                f"{rt_name} does not run on {t.id}"
                if rt_name not in t.runtimes.supported
                else "microcontroller runtimes do not run LM prefill/decode signatures"
            )
            row.update(predicted=None, verdict="unsupported", violations=[], headroom={},
                       unsupported=[why], threads=None)  # fmt: skip
            rows.append(row)
            continue
        n = threads or default_threads(t, rt)
        fill = fill_ops * calls if chunk else fill_ops
        pred = simulate_lm(st, shape, t, rt, compute, n, (fill, decode_ops))
        verdict, violations, headroom = judge_lm(pred, t, budget, strict)
        row.update(threads=n, predicted=pred.predicted_dict(), verdict=verdict,
                   violations=violations, headroom=headroom, unsupported=[],
                   band=rt.band, calibrated=False)  # fmt: skip
        row["notes"].append(f"decode is {pred.decode_bound}-bound; speed priors not fitted to LMs")
        rows.append(row)
    model_section = {
        "path": str(path), "format": path.suffix[1:], "precision": rec["precision"],
        "quantization": quant, "params": shape.params, "weight_bytes": st.weight_bytes,
        "file_bytes": st.file_bytes, "macs": st.decode_macs,
        "peak_activation_bytes": max(st.decode_activation_bytes, st.prefill_activation_bytes),
        "input_shapes": {}, "tflm_arena_bytes": None,
        "lm": {"shape": doc["shape"], **st.to_dict(), "prefill_ops": fill_ops,
               "decode_ops": decode_ops, "parity": rec.get("parity")},
    }  # fmt: skip
    return {"schema": SCHEMA, "model": model_section, "host": host, "targets": rows}


def print_lm_report(report: dict[str, Any]) -> None:
    """A few lines and a table: the model, prefill/decode figures, host, targets."""
    from edgekd.report import fmt
    from edgekd.report.term import Col, console, print_table

    con = console()
    m, lm = report["model"], report["model"]["lm"]
    con.print(f"[bold]{m['path']}[/] {m['format']} {m['quantization']}", soft_wrap=True)
    lines = [
        f"{m['params']:,} params, weights {fmt.nbytes_exact(m['weight_bytes'])}, "
        f"context {lm['context']} tokens, prompt {lm['prompt_tokens']} tokens",
        f"KV cache {fmt.nbytes_exact(lm['kv_cache_bytes'])} ({lm['kv_bytes_per_token']:,} B/token)",
        f"prefill: {lm['prefill_macs'] / 1e6:.2f} M MACs, activations "
        f"{fmt.nbytes_exact(lm['prefill_activation_bytes'])}",
        f"decode: {lm['decode_macs'] / 1e6:.2f} M MACs and "
        f"{fmt.nbytes_exact(lm['decode_bytes_read'])} read per token, activations "
        f"{fmt.nbytes_exact(lm['decode_activation_bytes'])}",
    ]
    host = report["host"]
    if host and host.get("tokens_per_s"):
        lines.append(
            f"host ({host['runtime']}, {host['threads']} thread(s), measured): "
            f"{host['tokens_per_s']:.1f} tokens/s, time to first token {host['ttft_ms']:.1f} ms, "
            f"peak RSS {fmt.nbytes(host['peak_rss_bytes'])}"
        )
    elif host:
        lines.append(str(host.get("error")))
    for line in lines:
        con.print(line, highlight=False, markup=False, soft_wrap=True)
    cols = [Col("target"), Col("runtime", priority=2), Col("tokens/s", right=True),
            Col("band", right=True, priority=3), Col("TTFT", right=True),
            Col("KV cache", right=True, priority=2), Col("peak RAM", right=True, priority=1),
            Col("flash", right=True, priority=1), Col("mJ/token", right=True, priority=2),
            Col("verdict")]  # fmt: skip
    colors = {"pass": "green", "fail": "red", "unsupported": "yellow"}
    rows, reasons = [], []
    for t in report["targets"]:
        p = t["predicted"] or {}
        dash = fmt.DASH
        rows.append([
            t["name"], t["runtime"],
            f"{p['tokens_per_s']:.3g}" if p else dash,
            f"{p['tokens_per_s_low']:.3g}–{p['tokens_per_s_high']:.3g}" if p else dash,
            fmt.ms(p["ttft_ms"]) if p else dash,
            fmt.nbytes(p["kv_cache_bytes"]) if p else dash,
            fmt.nbytes(p["peak_ram_bytes"]) if p else dash,
            fmt.nbytes(p["flash_bytes"]) if p else dash,
            f"{p['energy_mj']:.3g}" if p else dash,
            f"[{colors[t['verdict']]}]{t['verdict']}[/]",
        ])  # fmt: skip
        reasons += [f"{t['name']}: {v['message']}" for v in t["violations"]]
        reasons += [f"{t['name']}: {u}" for u in t.get("unsupported", [])]
    print_table(con, "simulated targets (decode tokens/s, time to first token)", cols, rows)
    for line in reasons:
        con.print(line, highlight=False)
