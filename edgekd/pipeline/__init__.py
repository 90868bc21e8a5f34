"""The compress pipeline: stages chained over a run directory."""
