"""Pruning: unstructured magnitude pruning, structured channel pruning, ``edgekd.prune(...)``."""

from edgekd.api_module import make_callable

make_callable(__name__, "edgekd.prune.api:prune")
