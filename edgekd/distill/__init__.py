"""Distillation: losses and the training loop."""
