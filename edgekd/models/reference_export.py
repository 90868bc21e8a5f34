"""Export reference architectures to ONNX (fp32, or int8 QDQ) into an on-disk cache.

``zoo:NAME`` in ``edgekd profile`` resolves here. Files live under ``$EDGEKD_CACHE/zoo`` or
``~/.cache/edgekd/zoo`` and are written atomically, so a crash never leaves a half file.
The int8 variant is quantized by onnxruntime's static QDQ quantizer (per-channel int8
weights, int8 activations, MinMax calibration on a few random inputs: latency does not
depend on the values).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

from edgekd.errors import UsageError
from edgekd.fileio import atomic_path, atomic_save

CACHE_VERSION = "v2"


def cache_dir() -> Path:
    root = os.environ.get("EDGEKD_CACHE") or str(Path.home() / ".cache" / "edgekd")
    return Path(root) / "zoo"


def reference_onnx(name: str, int8: bool = False, directory: str | Path | None = None) -> Path:
    """Path of the cached ONNX export of reference model ``name`` (built on first use)."""
    d = Path(directory) if directory else cache_dir()
    fp32 = d / f"{name}.{CACHE_VERSION}.onnx"
    if not fp32.is_file():  # torch only loads when the export is not cached yet
        from edgekd.models.reference import build_reference  # validates the name

        model, shape = build_reference(name)
        atomic_save(fp32, lambda tmp: _export(model, shape, tmp))
    if not int8:
        return fp32
    q = d / f"{name}.{CACHE_VERSION}.int8.onnx"
    if not q.is_file():
        with atomic_path(q) as tmp:
            quantize_int8(fp32, tmp)
    return q


def _export(model: Any, shape: tuple[int, ...], path: Path) -> None:
    import torch

    sample = torch.randn(*shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (sample,), str(path), input_names=["input"], output_names=["output"],
            opset_version=17, dynamo=False,
        )  # fmt: skip


def quantize_int8(src: str | Path, dst: str | Path, samples: int = 4) -> None:
    """Static QDQ int8 quantization with random calibration inputs (onnxruntime)."""
    import numpy as np
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    sess = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    inputs = [
        (i.name, [d if isinstance(d, int) else 1 for d in i.shape]) for i in sess.get_inputs()
    ]
    rng = np.random.default_rng(0)
    batches = [
        {n: rng.standard_normal(s).astype(np.float32) for n, s in inputs} for _ in range(samples)
    ]

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(batches)

        def get_next(self) -> dict | None:
            return next(self.it, None)

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs pre-processing advice as warnings
    try:
        quantize_static(
            str(src), str(dst), _Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
        )  # fmt: skip
    finally:
        root.setLevel(level)


def resolve_model(spec: str | Path, int8: bool = False) -> Path:
    """A model path, or ``zoo:NAME`` exported (and quantized with ``int8``) on first use."""
    s = str(spec)
    if s.startswith("zoo:"):
        return reference_onnx(s[4:], int8=int8)
    if int8:
        raise UsageError(
            f"--int8 quantizes zoo: models only; {s} is profiled as it is "
            "(quantize it first, e.g. with edgekd's quantize stage)"
        )
    return Path(s)
