"""Quantization on the ONNX path and quantization-aware training; ``edgekd.quantize(...)``."""

from edgekd.api_module import make_callable

make_callable(__name__, "edgekd.quantize.api:quantize")
