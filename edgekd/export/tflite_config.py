"""The recipe's ``export.tflite`` subsection."""

from __future__ import annotations

from pydantic import Field, model_validator

from edgekd.config import Section
from edgekd.export.tflite_export import QUANTIZED, TflitePrecision


class TfliteConfig(Section):
    """Which .tflite precisions to write, int8 I/O, calibration size and the parity gate.

    Float files (fp32, fp16) are gated elementwise against their torch parent
    (|tflite - torch| <= atol + rtol * |torch|); fp16 weights lose ~3 decimal digits
    (10-bit mantissa, IEEE 754), hence its looser tolerance. Quantized files (dynamic_int8,
    int8) report the dequantized output error and are gated on top-1 agreement.
    """

    precision: list[TflitePrecision] = ["fp32", "int8"]
    int8_io: bool = Field(
        default=False,
        description="int8 input/output tensors (microcontrollers); needs int8 in precision",
    )
    calib_samples: int = Field(default=128, ge=1, description="calibration samples for int8")
    atol: float = Field(default=1e-4, ge=0, description="fp32 parity tolerance")
    rtol: float = Field(default=1e-3, ge=0)
    fp16_atol: float = Field(default=1e-2, ge=0, description="fp16 parity tolerance")
    fp16_rtol: float = Field(default=1e-2, ge=0)
    min_top1_agreement: float = Field(
        default=0.97, ge=0, le=1, description="quantized files: share of argmax equal to torch's"
    )

    @model_validator(mode="after")
    def _check(self) -> TfliteConfig:
        if len(set(self.precision)) != len(self.precision):
            raise ValueError(f"precision lists a value twice: {self.precision}")
        if self.int8_io and "int8" not in self.precision:
            raise ValueError("int8_io: true needs 'int8' in precision")
        return self

    def tolerances(self, precision: str) -> tuple[float, float, float | None]:
        """(atol, rtol, min_top1_agreement or None) for the parity gate of one precision."""
        if precision in QUANTIZED:
            return self.fp16_atol, self.fp16_rtol, self.min_top1_agreement
        if precision == "fp32":
            return self.atol, self.rtol, None
        return self.fp16_atol, self.fp16_rtol, None
