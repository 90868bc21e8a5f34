"""A causal LM to TFLite with prefill and decode signatures and an explicit KV cache, through
litert-torch's generative export of Hugging Face models
(``litert_torch.generative.export_hf.export``, the converter behind ``litert-torch export_hf``).

The file has two signatures (litert-torch's ``LiteRTExportableModuleForDecoderOnlyLM*``):

- ``prefill_{L}``: ``tokens int32 [1, L]``, ``input_pos int32 [L]``, ``mask float32
  [1, 1, L, C]`` (additive: 0 where a position may attend, a large negative value
  elsewhere) and the cache ``kv_cache_k_{i} [1, kv_heads, C, head_dim]``,
  ``kv_cache_v_{i} [1, kv_heads, head_dim, C]``; returns the updated cache and the logits
  of the last position (``prefill_logits``);
- ``decode``: the same for one token, returning the cache and ``logits [1, 1, vocab]``.

``C`` (``cache_length``) is the longest context the file can hold. Int8 files are the float
file quantized by ai-edge-quantizer recipes: ``dynamic_int8`` = ``dynamic_wi8_afp32``
(int8 weights, activations quantized on the fly), ``weight_int8`` = ``weight_only_wi8_afp32``
(int8 weights dequantized to float at run time).
"""

from __future__ import annotations

import contextlib
import io
import shutil
import sys
import tempfile
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edgekd.errors import StageError, require

RECIPES = {"dynamic_int8": "dynamic_wi8_afp32", "weight_int8": "weight_only_wi8_afp32"}
PRECISIONS = ("fp32", *RECIPES)


@contextmanager
def _tensorflow_schema_shim() -> Iterator[None]:
    """litert-torch 0.10's ``export_hf`` imports an image model (``bonsai_flux2``) that reads
    ``tensorflow.lite.python.schema_py_generated`` at import time, so the text exporter fails
    without TensorFlow installed. That module is the TFLite flatbuffer schema, which
    ai-edge-litert ships as ``ai_edge_litert.schema_py_generated``: while ``export_hf`` is
    imported, the three ``tensorflow`` package names point at it, and they are removed again
    afterwards (nothing else sees a fake TensorFlow). With TensorFlow installed nothing
    changes."""
    try:
        import tensorflow  # noqa: F401

        yield
        return
    except ImportError:
        pass
    schema = require("ai_edge_litert.schema_py_generated", "tflite")
    names = ("tensorflow", "tensorflow.lite", "tensorflow.lite.python")
    fake = {n: types.ModuleType(n) for n in names}
    for n in names:
        fake[n].__path__ = []  # type: ignore[attr-defined]
    fake["tensorflow"].lite = fake["tensorflow.lite"]  # type: ignore[attr-defined]
    fake["tensorflow.lite"].python = fake["tensorflow.lite.python"]  # type: ignore[attr-defined]
    fake["tensorflow.lite.python"].schema_py_generated = schema  # type: ignore[attr-defined]
    added = {**fake, "tensorflow.lite.python.schema_py_generated": schema}
    sys.modules.update(added)
    try:
        yield
    finally:
        for n in added:
            sys.modules.pop(n, None)


def _export_hf() -> Any:
    require("litert_torch", "tflite")
    from edgekd.models.hf import import_transformers

    import_transformers()  # offline, torchvision-safe, before the shim
    with _tensorflow_schema_shim():
        from litert_torch.generative.export_hf import export as export_mod
        from litert_torch.generative.export_hf.core import export_lib
    return export_mod, export_lib


def export_lm_tflite(
    model_dir: Path,
    out_dir: Path,
    precisions: tuple[str, ...] = ("fp32", "dynamic_int8"),
    cache_length: int = 256,
    prefill_length: int = 32,
) -> dict[str, Path]:
    """Export the Hugging Face directory ``model_dir`` once in float and quantize that file
    for each int8 precision; returns {precision: ``out_dir/model.{precision}.tflite``}."""
    export_mod, export_lib = _export_hf()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".lm-tflite.", dir=out_dir))
    paths: dict[str, Path] = {}
    try:
        log = io.StringIO()  # litert-torch prints its config and progress: kept for errors
        try:
            with contextlib.redirect_stdout(log):
                export_mod.export(
                    str(model_dir),
                    str(work),
                    prefill_lengths=[prefill_length],
                    cache_length=cache_length,
                    quantization_recipe="none",
                    bundle_litert_lm=False,
                    keep_temporary_files=True,
                    prefill_logits=True,
                    externalize_embedder=False,
                    split_cache=False,
                )
        except Exception as exc:  # torch.export / MLIR lowering raise many kinds
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise StageError(f"TFLite export of the language model failed: {first}") from None
        float_file = work / "model.tflite"
        if not float_file.is_file():
            raise StageError(f"litert-torch wrote no model.tflite into {work}")
        for precision in precisions:
            if precision not in PRECISIONS:
                raise StageError(f"unknown LM precision {precision!r} ({', '.join(PRECISIONS)})")
            src = float_file
            if precision != "fp32":
                with contextlib.redirect_stdout(io.StringIO()):
                    src = Path(export_lib.quantize_model(str(float_file), RECIPES[precision]))
            dst = out_dir / f"model.{precision}.tflite"
            shutil.copyfile(src, dst)
            if src != float_file:
                src.unlink()
            paths[precision] = dst
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return paths
