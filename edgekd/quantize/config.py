"""The recipe's ``quantize`` section (static int8 by default)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgekd.config import Section
from edgekd.train.config import TrainConfig

Method = Literal["none", "dynamic", "static", "fp16", "qat"]
Calibration = Literal["minmax", "entropy", "percentile"]


class QuantizeConfig(Section):
    """Post-training quantization of the exported ONNX file with onnxruntime, or QAT.

    ``static`` writes int8 QDQ calibrated on ``calib_samples`` rows of the calibration split;
    ``dynamic`` quantizes MatMul/Gemm weights only (Conv models fall back to static);
    ``fp16`` halves every float initializer, keeping float32 inputs and outputs; ``qat``
    fine-tunes with fake quantization under the distillation loss and exports QDQ.
    ``max_accuracy_drop`` (absolute points on val) triggers the accuracy guard.
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
    allow_degraded: bool = Field(False, description="keep the best attempt if none meets the bar")
    qat: TrainConfig = TrainConfig(epochs=5, lr=5e-4)
