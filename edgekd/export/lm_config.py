"""The recipe's ``export.lm`` subsection (``task: causal_lm``): which files
``edgekd.export.lm_export`` writes for the student and the gates each must pass."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from edgekd.config import Section

OnnxLMPrecision = Literal["fp32", "dynamic_int8", "weight_int4"]
TfliteLMPrecision = Literal["fp32", "weight_int8", "dynamic_int8"]


class LMExportConfig(Section):
    """Per format of ``export.formats``, the precisions to write: ONNX with past key/values
    (``onnx``: float, onnxruntime ``quantize_dynamic`` int8, ``MatMulNBits`` int4) and TFLite
    prefill/decode with a KV cache of ``cache_length`` tokens (``tflite``: float and
    ai-edge-quantizer int8). Float files are gated on teacher-forced logits (``atol`` plus
    1e-5 x the largest logit), quantized ones on greedy-token agreement with the torch
    student (``min_agreement``), both over ``parity_tokens`` greedy tokens of fixed prompts
    (``edgekd.export.lm_parity``)."""

    onnx: list[OnnxLMPrecision] = ["fp32", "dynamic_int8"]
    tflite: list[TfliteLMPrecision] = ["fp32", "weight_int8"]
    cache_length: int | None = Field(
        None, ge=1, description="TFLite KV cache in tokens (null: 256 or the model's maximum)"
    )
    prefill_length: int = Field(32, ge=1, description="TFLite prefill signature length")
    parity_tokens: int = Field(16, ge=1, description="greedy tokens per parity prompt")
    min_agreement: float = Field(0.9, ge=0, le=1, description="quantized files' parity gate")
    atol: float = Field(1e-4, ge=0, description="float files' parity gate (absolute part)")

    @field_validator("onnx", "tflite")
    @classmethod
    def _once_each(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("must name at least one precision")
        if len(set(v)) != len(v):
            raise ValueError(f"lists a precision twice: {v}")
        return v
