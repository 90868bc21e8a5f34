"""Profiling: static graph analysis, host measurement, device simulation and budgets;
``edgekd.profile(...)``."""

from edgekd.api_module import make_callable

make_callable(__name__, "edgekd.profile.api:profile")
