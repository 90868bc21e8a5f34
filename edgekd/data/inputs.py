"""Model inputs as numpy: one array for single-input models, or a dict by input name.

Images and tabular rows are one float32 array ``(N, ...)``; text is
``{"input_ids": int64 (N, L), "attention_mask": int64 (N, L)}``, in the order the model
takes them (positional, as ONNX and TFLite signatures list them). These helpers let every
consumer (training, teacher fill, runtimes, parity, calibration) treat both the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

import numpy as np

if TYPE_CHECKING:
    import torch

Inputs = Union[np.ndarray, dict[str, np.ndarray]]


@dataclass(frozen=True)
class InputSpec:
    """One model input: its name, dtype and per-example shape (no batch axis)."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


def rows(x: Inputs) -> int:
    """The batch size of ``x``."""
    if isinstance(x, Mapping):
        return int(next(iter(x.values())).shape[0])
    return int(x.shape[0])


def select(x: Inputs, ix: slice | np.ndarray | Sequence[int]) -> Inputs:
    """Rows ``ix`` of every input."""
    if isinstance(x, Mapping):
        return {k: v[ix] for k, v in x.items()}
    return x[ix]


def concat(parts: Sequence[Inputs]) -> Inputs:
    """Batches joined along the batch axis."""
    first = parts[0]
    if isinstance(first, Mapping):
        return {k: np.concatenate([p[k] for p in parts]) for k in first}  # type: ignore[index]
    return np.concatenate(parts)  # type: ignore[arg-type]


def as_tuple(x: Inputs) -> tuple[np.ndarray, ...]:
    """The inputs in positional order."""
    return tuple(x.values()) if isinstance(x, Mapping) else (x,)


def as_feeds(x: Inputs, names: Sequence[str]) -> dict[str, np.ndarray]:
    """``{input name: array}`` for a runtime whose inputs are ``names`` (in order)."""
    arrays = as_tuple(x)
    if len(arrays) != len(names):
        raise ValueError(
            f"the model takes {len(names)} inputs ({', '.join(names)}), got {len(arrays)}"
        )
    return dict(zip(names, arrays, strict=True))


def to_torch(x: Inputs) -> tuple[torch.Tensor, ...]:
    """The inputs as torch tensors, in positional order (``model(*to_torch(x))``)."""
    import torch

    return tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in as_tuple(x))


def is_float(x: Inputs) -> bool:
    """Whether the (first) input is real-valued, as images and features are; token ids are not."""
    return as_tuple(x)[0].dtype.kind == "f"


def specs_of(x: Inputs, names: Sequence[str] | None = None) -> list[InputSpec]:
    """The input specs of a batch."""
    if isinstance(x, Mapping):
        return [InputSpec(k, str(v.dtype), tuple(v.shape[1:])) for k, v in x.items()]
    return [InputSpec((names or ["input"])[0], str(x.dtype), tuple(x.shape[1:]))]
