"""Export stages: torch → ONNX (and TFLite), each behind a parity gate against its parent."""
