"""Quantization-aware training: fake-quant fine-tuning under the KD loss, exported as QDQ ONNX.

Path chosen: eager fake quantization (``edgekd.quantize.fake_quant``) rather than torch.ao /
torchao PT2E (``prepare_qat_pt2e`` + ``XNNPACKQuantizer``). PT2E's converted graph holds
``quantized_decomposed`` ops that the TorchScript ONNX exporter used by edgekd does not
translate, while ``fake_quantize_per_*_affine`` exports to ``QuantizeLinear/DequantizeLinear``
one to one. The exported file is then checked by a parity gate against its own fake-quant
torch model (top-1 agreement on val, a batch size different from the export's), and its val
accuracy (onnxruntime) is compared with the float model's under ``max_accuracy_drop``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgekd.data.loaders import DataSplits
from edgekd.distill.config import DistillConfig
from edgekd.distill.losses import kd_loss
from edgekd.errors import DataError, StageError
from edgekd.export.parity import compare_outputs, raise_on_failure
from edgekd.quantize.config import QuantizeConfig
from edgekd.quantize.fake_quant import calibrate, freeze, prepare_qat
from edgekd.quantize.qdq_fold import fold_weight_quantize
from edgekd.quantize.speedup import classify_nodes, runtime_ops
from edgekd.train.finetune import check_teacher_logits, kd_fine_tune, val_accuracy
from edgekd.train.loop import ProgressFn, predict

MIN_TOP1_AGREEMENT = 0.99  # QDQ in onnxruntime vs fake-quant torch: rounding ties may differ


def check_calib(x: np.ndarray, samples: int, input_shape: tuple[int, ...]) -> None:
    if tuple(x.shape[1:]) != tuple(input_shape):
        raise DataError(
            f"calibration data has shape {tuple(x.shape)}; expected (N, "
            f"{', '.join(map(str, input_shape))})"
        )
    if len(x) < samples:
        raise DataError(
            f"calibration set has {len(x)} samples but {samples} were requested "
            "(quantize.calib_samples)"
        )


def qat(
    model: nn.Module,
    cfg: QuantizeConfig,
    data: DataSplits,
    teacher_logits: np.ndarray,
    distill: DistillConfig,
    out_path: Path,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Fine-tune a fake-quant copy of ``model`` and export it to ``out_path`` as QDQ ONNX.

    Returns float/QAT val accuracy (percent; the QAT number measured by onnxruntime on the
    exported file), the parity report, int8/float node counts, and one ``attempts`` entry.
    Raises ``ParityError`` if the file disagrees with its torch model and ``StageError`` if the
    accuracy drop exceeds ``cfg.max_accuracy_drop`` (unless ``cfg.allow_degraded``).
    """
    from edgekd.export.onnx_export import export_onnx
    from edgekd.runtime.onnx import OnnxRunner

    assert data.val.y is not None, "the val split needs labels"
    check_teacher_logits(teacher_logits, data)
    from edgekd.data.dataset import gather

    calib_x = gather(data.calib)  # QAT fine-tunes image and feature models: one array
    assert isinstance(calib_x, np.ndarray), "QAT needs single-input (array) data"
    check_calib(calib_x, cfg.calib_samples, data.input_shape)
    float_acc = 100.0 * val_accuracy(model, data)
    qmodel = prepare_qat(model, per_channel=cfg.per_channel)
    calibrate(qmodel, torch.from_numpy(calib_x[: cfg.calib_samples]))
    history = kd_fine_tune(qmodel, cfg.qat, data, teacher_logits, kd_loss(distill), progress)
    freeze(qmodel)
    out_path = Path(out_path)
    export_onnx(qmodel, data.val.take(2), out_path, gate=False)  # QAT gates on top-1 below
    fold_weight_quantize(out_path)
    reference = predict(qmodel, data.val)
    logits = OnnxRunner(out_path).predict(data.val)
    parity = compare_outputs(
        {"logits": reference}, {"logits": logits}, 1e-3, 1e-3, min_top1_agreement=MIN_TOP1_AGREEMENT
    )
    raise_on_failure(parity, f"QAT model {out_path}")
    acc = 100.0 * float(np.mean(logits.argmax(1) == data.val.y))
    drop = float_acc - acc
    met = cfg.max_accuracy_drop is None or drop <= cfg.max_accuracy_drop
    nodes = classify_nodes(out_path)
    settings = {"method": "qat", "per_channel": cfg.per_channel, "epochs": cfg.qat.epochs}
    report = {
        "float_val_accuracy": float_acc,
        "quant_val_accuracy": acc,
        "max_accuracy_drop": cfg.max_accuracy_drop,
        "met_bar": met,
        "chosen": settings,
        "attempts": [{"settings": settings, "val_accuracy": acc, "drop": drop, "meets_bar": met}],
        "parity": parity.to_dict(),
        "history": history.to_dict(),
        "precision": "int8",
        "int8_nodes": nodes["int8_nodes"],
        "float_nodes": nodes["float_nodes"],
        "int8_mac_share": nodes["int8_mac_share"],
        "expected_speedup": nodes["expected_speedup"],
        "runtime_ops": runtime_ops(out_path),
        "quant_bytes": out_path.stat().st_size,
    }
    if not met and not cfg.allow_degraded:
        err = StageError(
            f"QAT drops val accuracy by {drop:.2f} points (float {float_acc:.2f}%, QAT "
            f"{acc:.2f}%); the bar is {cfg.max_accuracy_drop}. The model was kept at {out_path}; "
            "set quantize.allow_degraded: true to accept it"
        )
        err.report = report  # type: ignore[attr-defined]
        raise err
    return report
