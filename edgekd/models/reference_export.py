"""Export reference architectures to ONNX (fp32, or int8 QDQ) into an on-disk cache.

``zoo:NAME`` in ``edgekd profile`` resolves here. Files live in the ``zoo`` kind of the one
cache (``edgekd.cache``: ``$EDGEKD_CACHE/zoo`` or ``~/.cache/edgekd/zoo``), written
atomically, so a crash never leaves a half file.
The int8 variant is quantized by onnxruntime's static QDQ quantizer (per-channel int8
weights, int8 activations, MinMax calibration on a few random inputs: latency does not
depend on the values).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from edgekd.cache import Cache, cache_root
from edgekd.errors import UsageError

CACHE_VERSION = "v2"


def reference_onnx(name: str, int8: bool = False, cache: Cache | None = None) -> Path:
    """Path of the cached ONNX export of reference model ``name`` (built on first use)."""
    cache = cache or Cache(cache_root())

    def build() -> tuple[Any, tuple[int, ...]]:  # torch loads only when not cached yet
        from edgekd.models.reference import build_reference

        return build_reference(name)  # validates the name

    def save(built: tuple[Any, tuple[int, ...]], tmp: Path) -> None:
        _export(built[0], built[1], tmp)

    fp32, _ = cache.get_or_make("zoo", [name, CACHE_VERSION], build, _check_onnx, save, ".onnx")
    if not int8:
        return fp32
    q, _ = cache.get_or_make(
        "zoo",
        [name, CACHE_VERSION, "int8"],
        lambda: fp32,
        _check_onnx,
        lambda src, tmp: quantize_int8(src, tmp),
        ".onnx",
    )
    return q


def _check_onnx(path: Path) -> Path:
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty")
    return path


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
