"""The recipe's ``quantize`` section (static int8 by default)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgekd.config import Section
from edgekd.train.config import TrainConfig

Method = Literal["none", "dynamic", "static", "fp16", "weight_only", "qat"]
Calibration = Literal["minmax", "entropy", "percentile"]


class QuantizeConfig(Section):
    """Post-training quantization of the exported ONNX file with onnxruntime, or QAT.

    ``static`` writes int8 QDQ calibrated on ``calib_samples`` rows of the calibration split;
    ``dynamic`` quantizes MatMul/Gemm weights only (Conv models fall back to static);
    ``fp16`` halves every float initializer, keeping float32 inputs and outputs;
    ``weight_only`` (TFLite files) stores int8 weights and computes in float; ``qat``
    fine-tunes with fake quantization under the distillation loss and exports QDQ.
    ``max_accuracy_drop`` (absolute points on labelled val rows) is the guard's bar with
    labels; without labels the guard compares outputs with the float model on held-out rows:
    relative L2 error at most ``max_output_error`` (default 0.1) and, for logits-like outputs,
    top-1 agreement at least ``min_top1_agreement`` (default 0.95); set explicitly, these apply
    with labels too. ``input_shapes`` sizes symbolic input dims of the calibration data.
    """

    method: Method = "static"
    calibration: Calibration = "minmax"
    calib_samples: int = Field(128, ge=1)
    percentile: float = Field(99.999, gt=90, le=100, description="for percentile calibration")
    per_channel: bool = False
    exclude_op_types: list[str] = Field(default_factory=list)
    exclude_nodes: list[str] = Field(default_factory=list)
    max_accuracy_drop: float | None = Field(
        1.0, ge=0, description="absolute points vs the float model on val; None disables"
    )
    max_output_error: float | None = Field(
        None, gt=0, description="max relative L2 error per output (default 0.1 without labels)"
    )
    min_top1_agreement: float | None = Field(
        None, gt=0, le=1, description="min top-1 agreement of logits outputs (default 0.95)"
    )
    input_shapes: dict[str, list[int]] = Field(default_factory=dict)
    allow_degraded: bool = Field(False, description="keep the best attempt if none meets the bar")
    choose_format: bool = Field(
        True,
        description="static ONNX: measure the int8 formats (QDQ/QOperator, per-channel, "
        "7/8-bit weights) under onnxruntime on this host and keep the fastest within the bar",
    )
    qat: TrainConfig = TrainConfig(epochs=5, lr=5e-4)
