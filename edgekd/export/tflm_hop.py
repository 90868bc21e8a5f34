"""The microcontroller hop: a .tflite file run by TensorFlow Lite Micro, checked against LiteRT.

For a file meant for a microcontroller, ``microcontroller_hop`` (1) measures the tensor arena
TFLM needs (``edgekd.runtime.tflm.measure_arena``), (2) runs the same raw inputs through TFLM
and LiteRT and compares the outputs (the int8 gate: top-1 agreement at least
``min_top1_agreement``; for integer outputs the largest difference in quantization steps is
reported and must be at most ``MAX_LSB``), and (3) writes ``model_data.cc/.h`` with the
measured arena. A file TFLM cannot build fails the hop naming the op.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgekd.errors import ParityError

# TFLM's reference kernels and LiteRT's optimized ones both requantize with the TFLite
# quantization spec's fixed-point multiplier; they may still round one step apart.
MAX_LSB = 2


def check_tflm_parity(
    path: str | Path,
    x: np.ndarray,
    min_top1_agreement: float = 0.97,
    arena_bytes: int | None = None,
) -> dict[str, Any]:
    """Run float inputs ``x`` (quantized as the model's input tensor expects) through TFLM
    and LiteRT; the report's ``status`` is ``pass`` or ``fail`` with ``failures``."""
    from edgekd.runtime.tflm import litert_raw, raw_inputs, run_tflm

    raw = raw_inputs(path, x)
    ref = litert_raw(path, raw)
    outs, meta = run_tflm(path, [raw], arena_bytes)
    got = outs[0].reshape(ref.shape)
    failures: list[str] = []
    diff = np.abs(ref.astype(np.float64) - got.astype(np.float64))
    report: dict[str, Any] = {"rows": int(len(raw)), "runtime": "tflite-micro vs litert"}
    if np.issubdtype(ref.dtype, np.integer):
        lsb = int(diff.max()) if diff.size else 0
        scale = meta[0]["scale"] or 1.0
        report.update(max_lsb_diff=lsb, max_abs_diff=float(lsb * scale))
        if lsb > MAX_LSB:
            failures.append(f"outputs differ by {lsb} quantization steps (> {MAX_LSB})")
    else:
        report.update(max_lsb_diff=None, max_abs_diff=float(diff.max()) if diff.size else 0.0)
    if ref.ndim >= 2 and ref.shape[-1] > 1:
        a = ref.reshape(len(raw), -1).argmax(1)
        b = got.reshape(len(raw), -1).argmax(1)
        agree = float((a == b).mean())
        report["top1_agreement"] = round(agree, 4)
        if agree < min_top1_agreement:
            failures.append(f"top-1 agreement {agree:.3f} < {min_top1_agreement}")
    report["status"] = "fail" if failures else "pass"
    report["failures"] = failures
    return report


def microcontroller_hop(
    path: str | Path,
    out_dir: str | Path,
    x: np.ndarray,
    min_top1_agreement: float = 0.97,
    gate: bool = True,
) -> dict[str, Any]:
    """Arena, TFLM-vs-LiteRT parity and ``model_data.cc/.h`` for one .tflite file.

    Returns ``{"arena": {...}, "parity": {...}, "c_array": [cc, h]}``; with ``gate`` a file
    TFLM cannot run or a failed comparison raises ``ParityError`` (exit 1).
    """
    from edgekd.export.c_array import write_c_array
    from edgekd.runtime.tflm import measure_arena

    arena = measure_arena(path)
    out: dict[str, Any] = {"arena": arena.to_dict()}
    if not arena.ok:
        ops = ", ".join(arena.unsupported_ops) or "-"
        msg = (
            f"{path}: TFLite Micro cannot run this model (unsupported op(s): {ops}; {arena.error})"
        )
        out["parity"] = {"status": "fail", "failures": [msg]}
        if gate:
            raise ParityError(msg)
        return out
    out["parity"] = check_tflm_parity(path, x, min_top1_agreement, arena.arena_bytes)
    if out["parity"]["status"] == "fail" and gate:
        raise ParityError(f"{path}: TFLM vs LiteRT: " + "; ".join(out["parity"]["failures"]))
    cc, h = write_c_array(path, out_dir, arena=arena)
    out["c_array"] = [Path(cc).name, Path(h).name]
    return out


def mcu_hop_for_run(
    run_dir: str | Path,
    metas: list[dict[str, Any]],
    x: np.ndarray,
    for_mcu: bool,
    min_top1_agreement: float = 0.97,
) -> list[str]:
    """When the run profiles a microcontroller (``for_mcu``), run the hop on its int8 .tflite
    (the int8-I/O one when there is one): ``meta["tflm"]`` gets the arena and parity, and
    ``model_data.cc/.h`` land in ``run_dir``. Returns failure messages (empty when fine)."""
    from edgekd.runtime.tflm import tflm_available

    if not for_mcu or not tflm_available():
        return []
    int8 = [m for m in metas if m.get("precision") == "int8"]
    if not int8:
        return []
    meta = max(int8, key=lambda m: bool(m.get("int8_io")))
    hop = microcontroller_hop(Path(run_dir) / meta["path"], run_dir, x, min_top1_agreement, False)
    meta["tflm"] = hop
    if hop["parity"]["status"] == "fail":
        return [f"{meta['path']} on TFLite Micro: " + "; ".join(hop["parity"]["failures"])]
    return []
