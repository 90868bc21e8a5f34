"""Input shapes, honestly: what the user gave (``--input-shape NAME=1,3,640,640``), checked
against what the model file declares, and nothing invented.

A model input dimension is concrete (a number in the file), symbolic (a name such as ``N`` or
``height``, or ``-1`` in a TFLite ``shape_signature``) or given by the user. The first
dimension of an input of rank >= 2 is the batch by convention (ONNX exporters' dynamic axes,
TFLite's ``shape_signature``); when it is symbolic and not given it is set to 1 and the notes
say so. Any other symbolic dimension that is not given is an error: latency and MACs depend on
it (a detector profiled at 1x1 pixels looks 500x cheaper than at 640x640).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgekd.errors import UsageError

Dim = int | str | None  # a size, a symbolic name, or unknown


@dataclass(frozen=True)
class InputSpec:
    """One model input as the file declares it."""

    name: str
    dims: tuple[Dim, ...]
    dtype: str  # numpy dtype name: float32, int64, bool...

    def signature(self) -> str:
        """``name dtype (d0, d1, ...)`` with symbolic dims by name."""
        shown = ", ".join("?" if d is None else str(d) for d in self.dims)
        return f"{self.name} {self.dtype} ({shown})"


def parse_input_shapes(items: Iterable[str], option: str = "--input-shape") -> dict[str, list[int]]:
    """``NAME=D,D,...`` strings -> {NAME: [D, ...]}; every D a positive integer."""
    out: dict[str, list[int]] = {}
    for item in items:
        name, sep, dims = item.rpartition("=")
        if not sep or not name or not dims:
            raise UsageError(f"{option} {item!r}: expected NAME=D,D,... e.g. images=1,3,640,640")
        try:
            shape = [int(d) for d in dims.split(",")]
        except ValueError:
            raise UsageError(f"{option} {item!r}: dimensions must be integers") from None
        if any(d <= 0 for d in shape):
            raise UsageError(f"{option} {item!r}: dimensions must be positive")
        if name in out:
            raise UsageError(f"{option}: input {name!r} given twice")
        out[name] = shape
    return out


def check_given(given: Mapping[str, Any], where: str = "--input-shape") -> dict[str, list[int]]:
    """Shapes from the Python API or a recipe: {name: [positive ints]}."""
    out: dict[str, list[int]] = {}
    for name, dims in given.items():
        try:
            shape = [int(d) for d in dims]
        except (TypeError, ValueError):
            raise UsageError(f"{where}: shape of {name!r} must be a list of integers") from None
        if not shape and not isinstance(dims, (list, tuple)):
            raise UsageError(f"{where}: shape of {name!r} must be a list of integers")
        if any(d <= 0 for d in shape):
            raise UsageError(f"{where}: shape of {name!r} has a non-positive dimension {shape}")
        out[str(name)] = shape
    return out


def resolve_shapes(
    inputs: list[InputSpec], given: Mapping[str, list[int]] | None, source: str
) -> tuple[dict[str, list[int]], list[str]]:
    """Concrete shapes for every input and notes on what was assumed.

    ``given`` wins over the file where the file's dim is symbolic; a given dim that
    contradicts a concrete one, a wrong rank or an unknown input name is a ``UsageError``.
    """
    given = check_names(inputs, given, source)
    shapes: dict[str, list[int]] = {}
    notes: list[str] = []
    for spec in inputs:
        if spec.name in given:
            shapes[spec.name] = _check_against(spec, given[spec.name], source)
            continue
        shape: list[int] = []
        for k, d in enumerate(spec.dims):
            if isinstance(d, int) and d > 0:
                shape.append(d)
            elif k == 0 and len(spec.dims) >= 2:
                shape.append(1)
                notes.append(f"input {spec.name!r}: batch dim {_dim_name(d)} set to 1")
            else:
                raise UsageError(_missing_message(spec, k, source))
        shapes[spec.name] = shape
    return shapes, notes


def check_names(
    inputs: list[InputSpec], given: Mapping[str, list[int]] | None, source: str
) -> dict[str, list[int]]:
    """``given`` after checking that every name is an input and every shape fits it."""
    given = dict(given or {})
    names = [i.name for i in inputs]
    unknown = [n for n in given if n not in names]
    if unknown:
        raise UsageError(
            f"--input-shape: {source} has no input named {', '.join(map(repr, unknown))} "
            f"(inputs: {'; '.join(i.signature() for i in inputs)})"
        )
    for spec in inputs:
        if spec.name in given:
            _check_against(spec, given[spec.name], source)
    return given


def _dim_name(d: Dim) -> str:
    return repr(d) if isinstance(d, str) and d else "(unnamed)"


def _check_against(spec: InputSpec, shape: list[int], source: str) -> list[int]:
    if len(shape) != len(spec.dims):
        raise UsageError(
            f"--input-shape {spec.name}={','.join(map(str, shape))}: {source} declares rank "
            f"{len(spec.dims)} for this input ({spec.signature()})"
        )
    for k, (d, g) in enumerate(zip(spec.dims, shape, strict=True)):
        if isinstance(d, int) and d > 0 and d != g:
            raise UsageError(
                f"--input-shape {spec.name}={','.join(map(str, shape))}: dim {k} is fixed to {d} "
                f"in {source} ({spec.signature()})"
            )
    return list(shape)


def _missing_message(spec: InputSpec, k: int, source: str) -> str:
    example = ",".join(
        str(d) if isinstance(d, int) and d > 0 else ("1" if j == 0 else f"<{d or 'dim' + str(j)}>")
        for j, d in enumerate(spec.dims)
    )
    return (
        f"{source}: input {spec.name!r} has a symbolic dim {k} {_dim_name(spec.dims[k])} "
        f"({spec.signature()}); MACs and latency depend on it: give the size with "
        f"--input-shape {spec.name}={example}"
    )


def onnx_inputs(model: Any) -> list[InputSpec]:
    """The graph inputs that are not initializers, with their declared dims and dtype."""
    from onnx import helper

    inits = {t.name for t in model.graph.initializer}
    specs = []
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        dims: list[Dim] = []
        for d in tt.shape.dim:
            if d.HasField("dim_value") and d.dim_value > 0:
                dims.append(int(d.dim_value))
            else:
                dims.append(d.dim_param or None)
        try:
            dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type)).name
        except Exception:
            dtype = "float32"
        specs.append(InputSpec(vi.name, tuple(dims), dtype))
    return specs


def tflite_inputs(interpreter: Any) -> list[InputSpec]:
    """Inputs of a LiteRT interpreter; ``-1`` in ``shape_signature`` is symbolic."""
    specs = []
    for d in interpreter.get_input_details():
        sig = d.get("shape_signature")
        sig = d["shape"] if sig is None or len(sig) != len(d["shape"]) else sig
        dims: list[Dim] = [int(s) if int(s) > 0 else None for s in sig]
        specs.append(InputSpec(str(d["name"]), tuple(dims), np.dtype(d["dtype"]).name))
    return specs


def format_shapes(shapes: Mapping[str, list[int]]) -> str:
    """``images=1,3,640,640 state=2,1,64`` (the ``--input-shape`` syntax)."""
    return " ".join(f"{n}={','.join(map(str, s))}" for n, s in shapes.items())
