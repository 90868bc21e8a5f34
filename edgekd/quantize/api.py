"""The quantize stage: ONNX file in, quantized ONNX file out, with the accuracy guard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekd.data.loaders import DataSplits
from edgekd.errors import UsageError
from edgekd.quantize.config import QuantizeConfig
from edgekd.quantize.guard import guarded_quantize
from edgekd.quantize.onnx_quant import PtqSettings
from edgekd.quantize.speedup import classify_nodes, measured_speedup, runtime_ops


def settings_from_config(cfg: QuantizeConfig) -> PtqSettings:
    """The guard's first attempt, from the recipe's ``quantize`` section."""
    if cfg.method in ("none", "qat"):
        raise UsageError(
            f"quantize.method={cfg.method!r} is not a post-training method; "
            "expected static, dynamic or fp16 (QAT runs through edgekd.quantize.qat.qat)"
        )
    return PtqSettings(
        method=cfg.method,
        calibration=cfg.calibration,
        calib_samples=cfg.calib_samples,
        percentile=cfg.percentile,
        per_channel=cfg.per_channel,
        exclude_op_types=tuple(cfg.exclude_op_types),
        exclude_nodes=tuple(cfg.exclude_nodes),
    )


def quantize(onnx_path: Path, out_path: Path, cfg: QuantizeConfig, data: DataSplits) -> dict:
    """Quantize ``onnx_path`` into ``out_path``; calibrate on ``data.calib``, guard on val.

    Returns ``attempts`` (settings + val accuracy of each), ``chosen`` settings, float and
    quantized val accuracy (percent, onnxruntime), int8/float compute node counts, the
    expected (Amdahl) speedup and the measured host speedup (batch 1; 1 and all threads).
    Raises ``StageError`` when no attempt meets ``max_accuracy_drop`` and ``allow_degraded``
    is false (the best attempt is still written; the report rides on the error as
    ``.report``).
    """
    assert data.val.y is not None, "the val split needs labels for the accuracy guard"
    report: dict[str, Any] = guarded_quantize(
        onnx_path,
        out_path,
        settings_from_config(cfg),
        data.calib.x,
        data.val.x,
        data.val.y,
        cfg.max_accuracy_drop,
        cfg.allow_degraded,
    )
    nodes = classify_nodes(out_path)
    report.update(
        precision="fp16" if report["chosen"]["method"] == "fp16" else "int8",
        int8_nodes=nodes["int8_nodes"],
        float_nodes=nodes["float_nodes"],
        int8_mac_share=nodes["int8_mac_share"],
        expected_speedup=nodes["expected_speedup"],
        runtime_ops=runtime_ops(out_path),
        float_bytes=Path(onnx_path).stat().st_size,
        quant_bytes=Path(out_path).stat().st_size,
        measured_speedup=measured_speedup(onnx_path, out_path, data.val.x[:1], repeats=20),
    )
    return report
