"""Quantization-aware training: fake-quant fine-tuning under the KD loss, exported as QDQ ONNX.

Path chosen: eager fake quantization (``edgekd.quantize.fake_quant``) rather than torch.ao /
torchao PT2E (``prepare_qat_pt2e`` + ``XNNPACKQuantizer``). PT2E's converted graph holds
``quantized_decomposed`` ops that the TorchScript ONNX exporter used by edgekd does not
translate, while ``fake_quantize_per_*_affine`` exports to ``QuantizeLinear/DequantizeLinear``
one to one. The exported file is then checked by a parity gate against its own fake-quant
torch model (on every sample of every split, batch sizes different from the export's), and
its val accuracy (onnxruntime) is compared with the float model's under ``max_accuracy_drop``.

The gate is tight because the file computes the same integers as the model: onnxruntime fuses
the QDQ graph into ``QLinearConv``/``QGemm`` (int32 accumulation, float requantization), and
``fake_quant`` trains on the grids those kernels use (7-bit weights that cannot saturate the
u8s8 kernels of non-VNNI x86 CPUs, the bias on the int32 grid of input x weight scale).
Measured on digits (cnn and mlp students, per tensor and per channel, 1 to 20 QAT epochs, on
an AVX-512 VNNI CPU and an emulated AVX2 one): top-1 agreement 1.0 and identical logits on all
but at most 4 of 1797 rows, where one activation sits on a rounding tie (float accumulation
order differs between torch and the runtime).
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
from edgekd.train.loop import History, ProgressFn, predict

MIN_TOP1_AGREEMENT = 0.99  # QDQ in onnxruntime vs fake-quant torch: rounding ties may differ
MIN_ROWS_EXACT = 0.99  # share of rows whose logits match within PARITY_ATOL/RTOL (float noise)
PARITY_ATOL, PARITY_RTOL = 1e-4, 1e-4  # one rounding step on a logit is ~1e-2
PARITY_ROWS = 4096  # at most this many samples (val, then test, then train) in the gate


def parity_inputs(data: DataSplits, rows: int = PARITY_ROWS) -> np.ndarray:
    """The gate's inputs: val, test, then train samples, at most ``rows`` in all (read
    batch by batch from streamed splits)."""
    parts, left = [], rows
    for split in (data.val, data.test, data.train):
        parts.append(np.asarray(split.take(left)))
        left -= len(parts[-1])
    return np.concatenate(parts)


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


def fine_tune_qat(
    model: nn.Module,
    cfg: QuantizeConfig,
    data: DataSplits,
    teacher_logits: np.ndarray,
    distill: DistillConfig,
    progress: ProgressFn | None = None,
) -> tuple[nn.Module, History]:
    """A frozen fake-quant copy of ``model``: BatchNorm folded, ranges calibrated on
    ``data.calib``, fine-tuned under the KD loss; ``model`` itself is left untouched."""
    qmodel = prepare_qat(model, per_channel=cfg.per_channel)
    calib = np.asarray(data.calib.take(cfg.calib_samples), dtype=np.float32)
    calibrate(qmodel, torch.from_numpy(calib))
    history = kd_fine_tune(qmodel, cfg.qat, data, teacher_logits, kd_loss(distill), progress)
    return freeze(qmodel), history


def export_qdq(qmodel: nn.Module, sample: np.ndarray, out_path: str | Path) -> Path:
    """Export a frozen fake-quant model as QDQ ONNX with int8 weight initializers."""
    from edgekd.export.onnx_export import export_onnx

    out_path = Path(out_path)
    export_onnx(qmodel, sample, out_path, gate=False)  # the QAT gate (qat below) compares
    fold_weight_quantize(out_path)  # against the fake-quant model after the fold
    return out_path


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
    from edgekd.runtime.onnx import OnnxRunner

    assert data.val.y is not None, "the val split needs labels"
    check_teacher_logits(teacher_logits, data)
    from edgekd.data.dataset import gather

    calib_x = gather(data.calib)  # QAT fine-tunes image and feature models: one array
    if not isinstance(calib_x, np.ndarray):
        raise DataError("quantize.method qat: needs single-input (image or feature) data")
    check_calib(calib_x, cfg.calib_samples, data.input_shape)
    float_acc = 100.0 * val_accuracy(model, data)
    qmodel, history = fine_tune_qat(model, cfg, data, teacher_logits, distill, progress)
    out_path = export_qdq(qmodel, data.val.take(2), out_path)  # type: ignore[arg-type]
    runner = OnnxRunner(out_path)
    x_all = parity_inputs(data)
    parity = compare_outputs(
        {"logits": predict(qmodel, x_all)},
        {"logits": runner.predict(x_all)},
        PARITY_ATOL,
        PARITY_RTOL,
        min_top1_agreement=MIN_TOP1_AGREEMENT,
        min_rows_within_tol=MIN_ROWS_EXACT,
    )
    raise_on_failure(parity, f"QAT model {out_path}")
    acc = 100.0 * float(np.mean(runner.predict(data.val).argmax(1) == data.val.y))
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
