"""A causal LM to ONNX with past key/values, through ``torch.onnx`` (dynamo exporter).

The graph has the input and output names of Hugging Face optimum's decoder export (the
layout onnxruntime-genai and transformers.js read): inputs ``input_ids [1, seq]``,
``attention_mask [1, past + seq]``, ``position_ids [1, seq]`` and
``past_key_values.{i}.key|value [1, kv_heads, past, head_dim]``; outputs ``logits
[1, seq, vocab]`` and ``present.{i}.key|value [1, kv_heads, past + seq, head_dim]``. One
graph serves prefill (seq = prompt length, past = 0) and decode (seq = 1).

Why not optimum's exporter: optimum-onnx pins ``transformers<4.58`` and litert-torch 0.10
needs transformers 5, so they cannot be installed together (DESIGN.md, chosen dependencies).
Batch size is 1 (on-device generation); the export is checked by ``edgekd.export.lm_parity``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekd.errors import StageError
from edgekd.runtime.lm_files import LMShape
from edgekd.runtime.lm_runners import cache_kwarg, output_cache

OPSET = 18
MAX_DIM = 1 << 16


def kv_names(layers: int, prefix: str) -> list[str]:
    return [f"{prefix}.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]


def _wrapper(model: Any, layers: int) -> Any:
    import torch
    from transformers import DynamicCache

    kw = cache_kwarg(model)

    class WithFlatCache(torch.nn.Module):
        """The model with its KV cache as 2 x layers plain tensors in and out."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, position_ids, *past):  # type: ignore[no-untyped-def]
            pairs = [(past[2 * i], past[2 * i + 1]) for i in range(layers)]
            cache = DynamicCache(ddp_cache_data=pairs, config=self.model.config)
            out = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                use_cache=True,
                **{kw: cache},
            )
            flat: list[Any] = []
            for layer in output_cache(out).layers:
                flat += [layer.keys, layer.values]
            return (out.logits, *flat)

    return WithFlatCache().eval()


def export_lm_onnx(model: Any, shape: LMShape, out: Path) -> Path:
    """Write ``out`` (see the module docstring); a failing export is a ``StageError``."""
    import torch

    from edgekd.fileio import atomic_path

    n = shape.layers
    seq, past = 3, 2  # sample sizes; both are dynamic in the graph
    ids = torch.zeros((1, seq), dtype=torch.int64)
    mask = torch.ones((1, past + seq), dtype=torch.int64)
    pos = torch.arange(past, past + seq)[None]
    kv = [torch.zeros((1, shape.kv_heads, past, shape.head_dim)) for _ in range(2 * n)]
    d_seq = torch.export.Dim("seq", min=1, max=MAX_DIM)
    d_past = torch.export.Dim("past", min=1, max=MAX_DIM)
    dynamic = {
        "input_ids": {1: d_seq},
        "attention_mask": {1: torch.export.Dim.AUTO},
        "position_ids": {1: d_seq},
        "past": tuple({2: d_past} for _ in range(2 * n)),
    }
    wrapper = _wrapper(model, n)
    with atomic_path(out) as tmp:
        try:
            torch.onnx.export(
                wrapper,
                (ids, mask, pos, *kv),
                str(tmp),
                input_names=[
                    "input_ids",
                    "attention_mask",
                    "position_ids",
                    *kv_names(n, "past_key_values"),
                ],
                output_names=["logits", *kv_names(n, "present")],
                dynamic_shapes=dynamic,
                opset_version=OPSET,
                dynamo=True,
                optimize=True,
                external_data=False,
                verbose=False,
            )
        except Exception as exc:  # torch.export / onnxscript raise many kinds
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise StageError(f"ONNX export of the language model failed: {first}") from None
    return out
