"""Runtimes that run artifacts: torch, onnxruntime, LiteRT."""
