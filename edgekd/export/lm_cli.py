"""``edgekd export-lm`` and ``edgekd generate``: language models to checked ONNX/TFLite
files, and those files answering a prompt. Thin layers over ``edgekd.export.lm_export`` and
``edgekd.runtime.lm_generate``; nothing heavy is imported here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command(name="export-lm")(export_lm_cmd)
    app.command(name="generate")(generate_cmd)


def export_lm_cmd(
    model: Annotated[str, typer.Argument(help="hf:DIR, hf:FILE.gguf, or a distill_lm student")],
    out: Annotated[Path, typer.Option("--out", help="output directory")] = Path("lm-export"),
    format_: Annotated[
        list[str] | None, typer.Option("--format", help="onnx | tflite (repeatable; both)")
    ] = None,
    precision: Annotated[
        list[str] | None,
        typer.Option(
            "--precision",
            help="TFLite: fp32 | weight_int8 | dynamic_int8 (repeatable; fp32 and weight_int8)",
        ),
    ] = None,
    onnx_precision: Annotated[
        list[str] | None,
        typer.Option(
            "--onnx-precision",
            help="ONNX: fp32 | dynamic_int8 | weight_int4 (repeatable; fp32 and dynamic_int8)",
        ),
    ] = None,
    cache_length: Annotated[
        int | None,
        typer.Option(
            "--cache-length", help="TFLite KV cache, the longest context (default 256 or less)"
        ),
    ] = None,
    prefill_length: Annotated[
        int, typer.Option("--prefill-length", help="TFLite prefill signature length")
    ] = 32,
    new_tokens: Annotated[
        int, typer.Option("--parity-tokens", min=1, help="greedy tokens per parity prompt")
    ] = 16,
    min_agreement: Annotated[
        float | None,
        typer.Option("--min-agreement", min=0.0, max=1.0, help="int8 greedy agreement gate"),
    ] = None,
) -> None:
    """Export a causal LM with its KV cache to ONNX and TFLite, each gated against torch."""
    from edgekd.errors import ParityError
    from edgekd.export.lm_export import export_lm

    failure = None
    try:
        records = export_lm(
            model,
            out,
            formats=format_ or ["onnx", "tflite"],
            precisions=precision or ["fp32", "weight_int8"],
            onnx_precisions=onnx_precision or ["fp32", "dynamic_int8"],
            cache_length=cache_length,
            prefill_length=prefill_length,
            new_tokens=new_tokens,
            min_agreement=min_agreement,
        )
    except ParityError as exc:
        failure = exc
        from edgekd.runtime.lm_files import SIDECAR

        records = json.loads((out / SIDECAR).read_text())["files"]
    for name, r in sorted(records.items()):
        p = r["parity"]
        check = (
            f"max abs diff {p['max_abs_diff']:.3g} (tol {p['tolerance']:.3g})"
            if p["tolerance"] is not None
            else f"greedy agreement {p['agreement']:.3f} (min {p['min_agreement']})"
        )
        typer.echo(
            f"{out / name}: {r['file_bytes']:,} bytes, {r['quantization']}, signatures "
            f"{', '.join(r['signatures'])}; parity {p['status']}: {check} over "
            f"{p['positions']} positions"
        )
    if failure is not None:
        raise failure


def generate_cmd(
    model: Annotated[Path, typer.Argument(help="an exported .onnx or .tflite language model")],
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="the user's message")],
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", "-n")] = 32,
    raw: Annotated[
        bool, typer.Option("--raw", help="feed the prompt as is (no chat template)")
    ] = False,
    threads: Annotated[int, typer.Option("--threads", min=1, help="runtime threads")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Answer a prompt with an exported model and its tokenizer; print tokens/s."""
    from edgekd.runtime.lm_generate import generate

    g = generate(model, prompt, max_new_tokens, raw=raw, threads=threads)
    if as_json:
        typer.echo(json.dumps(g.to_dict(), indent=2))
        return
    for w in g.warnings:
        typer.echo(f"warning: {w}", err=True)
    typer.echo(g.text)
    speed = f"{g.tokens_per_s:.1f} tokens/s" if g.tokens_per_s else "no decode steps"
    typer.echo(
        f"-- {g.new_tokens} new tokens ({g.stopped}), prompt {g.prompt_tokens} tokens, "
        f"time to first token {g.ttft_ms:.1f} ms, decode {speed} ({threads} thread(s), this host)",
        err=True,
    )
