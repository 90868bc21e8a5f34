"""Quantization on the ONNX path and quantization-aware training."""
