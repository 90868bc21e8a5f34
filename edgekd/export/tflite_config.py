"""The recipe's ``export.tflite`` subsection (the TFLite export fills this in)."""

from __future__ import annotations

from typing import Literal

from edgekd.recipe.base import Section


class TfliteConfig(Section):
    precision: list[Literal["fp32", "fp16", "dynamic_int8", "int8"]] = ["fp32"]
