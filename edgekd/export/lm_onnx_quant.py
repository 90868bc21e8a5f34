"""Int8/int4 weights for a language model's ONNX export (``edgekd.export.lm_onnx``), with
onnxruntime's own quantizers:

- ``dynamic_int8``: ``onnxruntime.quantization.quantize_dynamic`` on every ``MatMul`` with a
  constant weight, int8 per output channel (``per_channel``), activations quantized to uint8
  on the fly per call (``DynamicQuantizeLinear`` + ``MatMulInteger``), and on the embedding
  ``Gather`` (int8 table, rows dequantized after the lookup: the table is most of a small
  LM, and a tied output head would otherwise keep it in float32 beside its int8 copy). The
  full 8-bit weight range (no ``reduce_range``): ARM's int8 dot products and x86 VNNI do not
  saturate; on an x86 CPU without VNNI, u8 x s8 pairs can saturate int16 (onnxruntime's
  quantization docs, "When and why do I need to try U8U8?"), which the agreement gate, run
  on the exporting host, would catch. Measured on SmolLM2 layers 0 and 29 (8 prompts x 8
  tokens): greedy agreement 0.917 with full range against 0.792 with ``reduce_range``, and
  34 MiB with the ``Gather`` against 115 MiB without. The analogue of the TFLite
  ``dynamic_int8`` file;
- ``weight_int4``: ``MatMulNBitsQuantizer`` (4-bit, symmetric, blocks of 32 along K:
  ``com.microsoft.MatMulNBits``), the weight-only format onnxruntime-genai ships LMs in;
  activations stay float. The embedding ``Gather`` too (``com.microsoft.GatherBlockQuantized``,
  4-bit blocks of 32 along the hidden size): without it the table, most of a small LM, stays
  float32 (the 6-of-30-layer SmolLM2 student: 121.5 MB with a float table). A tied output
  head reads the same table through ``Transpose(table) -> MatMul``, whose weight is not a
  constant, so MatMulNBits skips it and the float table stays in the file beside the 4-bit
  one (138 MB measured); ``fold_constant_transposes`` makes the transposed table a constant
  first, and the head is 4-bit too (47.3 MB).

Everything else stays float32; the graph's inputs and outputs
(and its KV cache) are unchanged, so ``OnnxLM`` runs the file like the float one. A file in
which no ``MatMul`` was quantized is an error (nothing would be gained, and the gate would
pass trivially).
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from edgekd.errors import StageError, require

ONNX_PRECISIONS = ("fp32", "dynamic_int8", "weight_int4")
INT4_BLOCK = 32  # weights per scale along K (onnxruntime-genai's builder uses 32 for CPU)
QUANTIZED_OPS = {"dynamic_int8": "MatMulInteger", "weight_int4": "MatMulNBits"}


def onnx_filename(precision: str) -> str:
    """``model.onnx`` (float, the name optimum and onnxruntime-genai use) or
    ``model.{precision}.onnx``."""
    return "model.onnx" if precision == "fp32" else f"model.{precision}.onnx"


def quantize_lm_onnx(src: Path, dst: Path, precision: str) -> dict[str, int]:
    """Write ``dst``, the float ``src`` with quantized MatMul weights; returns the op counts
    of the quantized graph (``{"MatMulInteger": 12, "MatMul": 2, ...}``)."""
    from edgekd.fileio import atomic_path

    if precision not in QUANTIZED_OPS:
        raise StageError(f"ONNX LM precision {precision!r}: expected one of {list(QUANTIZED_OPS)}")
    onnx = require("onnx", "onnx")
    with atomic_path(dst) as tmp:
        _quantize(src, tmp, precision)
        ops = Counter(n.op_type for n in onnx.load(str(tmp), load_external_data=False).graph.node)
        if not ops.get(QUANTIZED_OPS[precision]):
            raise StageError(
                f"{src} ({precision}): no MatMul weight was quantized (no "
                f"{QUANTIZED_OPS[precision]} in the graph): the export has no constant MatMul "
                "weights"
            )
    return dict(ops)


def _quantize(src: Path, dst: Path, precision: str) -> None:
    """One of onnxruntime's quantizers (module docstring), its advice kept off the console."""
    q = require("onnxruntime.quantization", "onnx")
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))  # the quantizers log advice to the root logger
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            if precision == "dynamic_int8":
                q.quantize_dynamic(
                    str(src),
                    str(dst),
                    op_types_to_quantize=["MatMul", "Gather"],
                    per_channel=True,
                    reduce_range=False,
                    weight_type=q.QuantType.QInt8,
                )
                return
            from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

            onnx = require("onnx", "onnx")
            model = onnx.load(str(src))
            fold_constant_transposes(model)  # a tied head: Transpose(table) -> MatMul
            quant = MatMulNBitsQuantizer(
                model,
                bits=4,
                block_size=INT4_BLOCK,
                is_symmetric=True,
                op_types_to_quantize=("MatMul", "Gather"),
                quant_axes=(("MatMul", 0), ("Gather", 1)),  # Gather: blocks along the hidden size
            )
            quant.process()
            quant.model.save_model_to_file(str(dst), False)
    except Exception as exc:  # onnxruntime's quantizers raise many kinds
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise StageError(f"onnxruntime could not quantize {src} ({precision}): {first}") from None
    finally:
        root.setLevel(level)


def fold_constant_transposes(model: Any) -> int:
    """Replace every ``Transpose`` of an initializer by the transposed initializer (in place);
    initializers nothing reads any more are dropped. Returns how many were folded."""
    onnx = require("onnx", "onnx")
    from onnx import numpy_helper

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    folded = 0
    for node in list(graph.node):
        if node.op_type != "Transpose" or node.input[0] not in inits:
            continue
        table = numpy_helper.to_array(inits[node.input[0]])
        perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
        graph.initializer.append(numpy_helper.from_array(table.transpose(perm), node.output[0]))
        graph.node.remove(node)
        folded += 1
    if folded:
        used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
        for t in [t for t in graph.initializer if t.name not in used]:
            graph.initializer.remove(t)
        onnx.checker.check_model(model, full_check=False)
    return folded
