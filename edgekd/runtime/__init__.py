"""Runtimes that run exported files on this host: LiteRT for .tflite (and onnxruntime for .onnx)."""
