"""Profiling: static graph analysis, host measurement, device simulation and budgets."""
