"""Evaluation: every artifact on the test split, with the runtime that runs it."""
