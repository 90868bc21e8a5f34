"""Distillation: losses, methods and the ``edgekd.distill(...)`` API (``distill.api``)."""

from edgekd.api_module import make_callable

make_callable(__name__, "edgekd.distill.api:distill")
