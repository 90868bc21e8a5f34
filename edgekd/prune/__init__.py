"""Pruning: unstructured magnitude pruning and structured channel pruning."""
