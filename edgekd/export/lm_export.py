"""``edgekd.export_lm``: a causal LM (``hf:DIR``, ``hf:FILE.gguf``, or a student saved by
``distill_lm``) to ONNX and TFLite files that ship with their tokenizer, each checked
against the torch parent before it is listed (``edgekd.export.lm_parity``).

Everything is checked before any work: the model loads as a causal LM, the cache length
fits its maximum context, the prefill length fits the cache. The output directory is
described in ``edgekd.runtime.lm_files``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgekd.errors import ParityError, UsageError

FORMATS = ("onnx", "tflite")


def _model_dir(model: str | Path) -> Path:
    text = str(model)
    if text.startswith("hf:"):
        text = text[3:]
    return Path(text).expanduser()


def check_lengths(max_context: int | None, cache_length: int, prefill_length: int) -> None:
    """Bad lengths are usage errors (exit 2) naming the option and the limit."""
    if cache_length < 1:
        raise UsageError(f"--cache-length {cache_length}: expected at least 1 token")
    if max_context is not None and cache_length > max_context:
        raise UsageError(
            f"--cache-length {cache_length}: above the model's maximum context of {max_context} "
            f"tokens (max_position_embeddings); use at most {max_context}"
        )
    if not 1 <= prefill_length <= cache_length:
        raise UsageError(
            f"--prefill-length {prefill_length}: expected 1 to the cache length ({cache_length})"
        )


def stop_ids(tokenizer: Any, model: Any, vmap: Any) -> list[int]:
    """End-of-sequence ids in the tokenizer's id space (a trimmed model's config holds its
    own ids, mapped back through the vocabulary map)."""
    from edgekd.completions.lm_examples import stop_token_ids

    model_ids = stop_token_ids(tokenizer, model.config, model.generation_config)
    model_ids.discard(tokenizer.eos_token_id)
    ids = {int(tokenizer.eos_token_id)} if tokenizer.eos_token_id is not None else set()
    for i in model_ids:
        ids.add(int(vmap.to_old([i])[0]) if vmap is not None else int(i))
    return sorted(ids)


def encode_prompts(tokenizer: Any, vmap: Any, prompts: Sequence[str]) -> list[list[int]]:
    """The prompts as the model sees them (chat template or ``role: text`` lines), in the
    model's ids."""
    from edgekd.completions.lm_examples import encode, render_chat

    out = []
    for p in prompts:
        ids = encode(tokenizer, render_chat(tokenizer, [{"role": "user", "content": p}], True))
        out.append([int(i) for i in (vmap.to_new(ids) if vmap is not None else ids)])
    return out


def export_lm(
    model: str | Path,
    out_dir: str | Path,
    formats: Sequence[str] = FORMATS,
    precisions: Sequence[str] = ("fp32", "weight_int8"),
    onnx_precisions: Sequence[str] = ("fp32", "dynamic_int8"),
    cache_length: int | None = None,
    prefill_length: int = 32,
    prompts: Sequence[str] | None = None,
    new_tokens: int = 16,
    min_agreement: float | None = None,
    atol: float | None = None,
    threads: int = 1,
) -> dict[str, Any]:
    """Export, check and describe; returns the sidecar's ``files`` records. Every file is
    written and recorded before a failed parity gate raises ``ParityError`` (exit 1).
    ``precisions`` are the TFLite files' (``edgekd.export.lm_tflite``), ``onnx_precisions``
    the ONNX files' (``edgekd.export.lm_onnx_quant``; int8/int4 files quantize the float one).
    ``cache_length`` (TFLite) defaults to 256 tokens or the model's maximum context if less;
    the prefill signature is at most that long."""
    from edgekd.export import lm_parity as lp
    from edgekd.export.lm_onnx_quant import ONNX_PRECISIONS
    from edgekd.export.lm_tflite import PRECISIONS
    from edgekd.models.causal_lm import check_path, load_causal_lm
    from edgekd.models.vocab_trim import VocabMap
    from edgekd.runtime.lm_files import SIDECAR, LMShape, write_sidecar
    from edgekd.runtime.lm_runners import TorchLM, open_runner

    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise UsageError(f"--format {bad[0] if bad else ''!r}: expected onnx and/or tflite")
    badp = [p for p in precisions if p not in PRECISIONS]
    if badp or not precisions:
        raise UsageError(
            f"--precision {badp[0] if badp else ''!r}: expected one of {', '.join(PRECISIONS)}"
        )
    bado = [p for p in onnx_precisions if p not in ONNX_PRECISIONS]
    if "onnx" in formats and (bado or not onnx_precisions):
        raise UsageError(
            f"--onnx-precision {bado[0] if bado else ''!r}: expected one of "
            f"{', '.join(ONNX_PRECISIONS)}"
        )
    src = _model_dir(model)
    check_path(src, "model")
    parent, tokenizer, _info = load_causal_lm(src, "model")
    shape = LMShape.of(parent)
    if cache_length is None:
        cache_length = min(256, shape.max_context or 256)
        prefill_length = min(prefill_length, cache_length)
    if "tflite" in formats:
        check_lengths(shape.max_context, cache_length, prefill_length)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / SIDECAR).unlink(missing_ok=True)  # describes this export only
    vmap = VocabMap.load(src) if src.is_dir() else None
    tokenizer.save_pretrained(out)
    if vmap is not None:
        vmap.save(out)
    ids = encode_prompts(tokenizer, vmap, prompts or lp.DEFAULT_PROMPTS)
    torch_runner = TorchLM(parent, "torch parent")
    records: dict[str, Any] = {}
    failures: list[str] = []
    references: dict[tuple[Any, ...], Any] = {}  # the parent's sequences, shared by the gates
    common = {"stop_ids": stop_ids(tokenizer, parent, vmap), "vocab_map": vmap is not None}

    def gate(path: Path, precision: str, fmt: str, extra: dict[str, Any]) -> None:
        runner = open_runner(path, threads)
        kwargs: dict[str, Any] = {"new_tokens": new_tokens}
        if min_agreement is not None:
            kwargs["min_agreement"] = min_agreement
        if atol is not None:
            kwargs["atol"] = atol
        res = lp.check_lm_parity(
            torch_runner, runner, ids, precision, gate=False, references=references, **kwargs
        )
        if res.status == "fail":
            failures.append(res.message)
        records[path.name] = {
            "format": fmt,
            "precision": "fp32" if precision == "fp32" else precision.rsplit("_", 1)[1],
            "quantization": precision,
            "file_bytes": path.stat().st_size,
            "signatures": list(runner.signatures),
            "context": runner.max_context,
            "parity": res.to_dict(),
            **common,
            **extra,
        }
        write_sidecar(out, shape, f"hf:{src}", {path.name: records[path.name]})

    if "onnx" in formats:
        from edgekd.export.lm_onnx import export_lm_onnx
        from edgekd.export.lm_onnx_quant import onnx_filename, quantize_lm_onnx

        path = export_lm_onnx(parent, shape, out / onnx_filename("fp32"))
        for precision in onnx_precisions:
            if precision == "fp32":
                gate(path, "fp32", "onnx", {})
                continue
            dst = out / onnx_filename(precision)
            ops = quantize_lm_onnx(path, dst, precision)
            gate(dst, precision, "onnx", {"quantized_ops": ops})
        if "fp32" not in onnx_precisions:
            path.unlink()
    if "tflite" in formats:
        from edgekd.export.lm_tflite import export_lm_tflite

        with _hf_dir(src, parent, tokenizer) as hf_dir:
            files = export_lm_tflite(hf_dir, out, tuple(precisions), cache_length, prefill_length)
        for precision, path in files.items():
            gate(path, precision, "tflite", {"cache_length": cache_length})
    if failures:
        raise ParityError("parity failed: " + "; ".join(failures))
    return records


class _hf_dir:
    """A Hugging Face directory with float weights for litert-torch (which loads from a
    path): the source itself, or the loaded model saved to a temporary directory: a GGUF
    file, a config-only directory, or a model whose config still names a quantization
    (transformers' gguf loader keeps ``GgufConfig`` after dequantizing to float32, and
    litert-torch refuses any ``quantization_config``)."""

    def __init__(self, src: Path, model: Any, tokenizer: Any) -> None:
        self.src, self.model, self.tokenizer = src, model, tokenizer
        self.tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Path:
        from edgekd.models.causal_lm import has_weights

        quant = getattr(self.model.config, "quantization_config", None)
        if self.src.is_dir() and has_weights(self.src) and quant is None:
            return self.src
        self.tmp = tempfile.TemporaryDirectory(prefix="edgekd-lm-")
        path = Path(self.tmp.name)
        quantizer = getattr(self.model, "hf_quantizer", None)
        try:
            if quant is not None:
                del self.model.config.quantization_config
                self.model.hf_quantizer = None
            self.model.save_pretrained(path, safe_serialization=True)
        finally:
            if quant is not None:
                self.model.config.quantization_config = quant
                self.model.hf_quantizer = quantizer
        self.tokenizer.save_pretrained(path)
        return path

    def __exit__(self, *exc: object) -> None:
        if self.tmp is not None:
            self.tmp.cleanup()
