"""The recipe's ``export`` section."""

from __future__ import annotations

from pydantic import Field

from edgekd.config import Section
from edgekd.export.lm_config import LMExportConfig
from edgekd.export.stage import ExportFormat
from edgekd.export.tflite_config import TfliteConfig


class ExportConfig(Section):
    """Which formats to export and the parity gate's tolerances."""

    formats: list[ExportFormat] = ["onnx", "tflite"]
    opset: int = Field(18, ge=13, le=23)
    atol: float = Field(1e-4, ge=0)
    rtol: float = Field(1e-3, ge=0)
    export_batch: int = Field(1, ge=1, description="batch size used when tracing the export")
    parity_batch: int = Field(7, ge=1, description="batch size of the parity check")
    teacher: bool = Field(
        True,
        description="also export a teacher trained here to ONNX (parity-checked), so the "
        "reports evaluate and profile it against the budgets like the student",
    )
    tflite: TfliteConfig = TfliteConfig()
    lm: LMExportConfig = LMExportConfig()
