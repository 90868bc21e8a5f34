"""The views (preprocessing) of each kind of data, made from the train split.

``make_views`` returns the student's view (what ships, saved as ``preprocess.json``) and the
teacher's when it differs: the same images at ``data.image.teacher_size``, or the teacher's
own tokenizer (which must split the training texts into the same tokens).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekd.data.inputs import InputSpec
from edgekd.errors import DataError

if TYPE_CHECKING:
    from edgekd.data.config import DataConfig
    from edgekd.data.dataset import Split, View
    from edgekd.data.sources import Raw


@dataclass(frozen=True)
class ArrayView:
    """``(x - mean) / std`` per feature (tabular) or per channel (images as arrays)."""

    mean: np.ndarray
    std: np.ndarray
    shape: tuple[int, ...]
    normalize: str = "standard"
    kind: str = field(default="array")
    dense_ok: bool = True

    def specs(self) -> list[InputSpec]:
        return [InputSpec("input", "float32", self.shape)]

    def batch(self, items: Sequence[Any], train: bool, rng: np.random.Generator) -> np.ndarray:
        x = np.asarray(items, dtype=np.float32) if not isinstance(items, np.ndarray) else items
        return ((x.astype(np.float32) - self.mean) / self.std).astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "array",
            "normalize": self.normalize,
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
        }


def array_stats(x: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel statistics for images (N, C, H, W), per-feature for tabular (N, F)."""
    if mode == "none":
        shape = (1,) * (x.ndim - 1)
        return np.zeros(shape, np.float32), np.ones(shape, np.float32)
    axes = (0, 2, 3) if x.ndim == 4 else (0,)
    mean = x.mean(axis=axes, keepdims=True)[0]
    std = x.std(axis=axes, keepdims=True)[0]
    std = np.where(std < 1e-6, 1.0, std)
    return mean.astype(np.float32), std.astype(np.float32)


def identity_split(x: np.ndarray, y: np.ndarray | None, name: str = "train") -> Split:
    """Inputs already preprocessed (synthetic data), as a split kept in memory."""
    from edgekd.data.dataset import Split
    from edgekd.data.loaders import ArrayRows

    shape = tuple(int(d) for d in x.shape[1:])
    ones = (1,) * len(shape)
    view = ArrayView(np.zeros(ones, np.float32), np.ones(ones, np.float32), shape, "none")
    return Split(ArrayRows(x), np.arange(len(x)), y, view, dense=x, name=name)


def make_views(raw: Raw, train: np.ndarray, cfg: DataConfig) -> tuple[View, View | None]:
    """(student view, teacher view or None when the teacher sees the same inputs)."""
    if raw.kind == "array":
        assert raw.dense is not None
        mean, std = array_stats(raw.dense[train], cfg.normalize)
        return ArrayView(mean, std, tuple(raw.dense.shape[1:]), cfg.normalize), None
    if raw.kind == "image":
        return _image_views(raw, train, cfg)
    return _text_views(raw, train, cfg)


def _image_views(raw: Raw, train: np.ndarray, cfg: DataConfig) -> tuple[View, View | None]:
    from edgekd.data.image import ImageView, channel_stats

    im = cfg.image

    def view(size: int, mean: Sequence[float], std: Sequence[float]) -> ImageView:
        resize = round(size * (im.resize / im.size)) if im.resize else round(size * 256 / 224)
        return ImageView((size, size), max(resize, size), tuple(mean), tuple(std), im.channels,
                         im.augment, (im.scale[0], im.scale[1]), flip=im.flip)  # fmt: skip

    if im.mean is not None and im.std is not None:
        mean, std = tuple(im.mean), tuple(im.std)
    elif cfg.normalize == "none":
        mean, std = (0.0,) * im.channels, (1.0,) * im.channels
    else:
        probe = view(im.size, (0.0,) * im.channels, (1.0,) * im.channels)
        items = _Positions(raw, train)
        mean, std = channel_stats(probe, items)  # type: ignore[arg-type]
    student = view(im.size, mean, std)
    teacher = view(im.teacher_size, mean, std) if im.teacher_size not in (None, im.size) else None
    return student, teacher


@dataclass(frozen=True)
class _Positions:
    """``raw.examples`` at ``positions``, as a sequence."""

    raw: Raw
    positions: np.ndarray

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, i: int) -> Any:
        return self.raw.examples.get(int(self.positions[i]))


def _text_views(raw: Raw, train: np.ndarray, cfg: DataConfig) -> tuple[View, View | None]:
    from edgekd.data.text import TextView, load_tokenizer

    t = cfg.text
    if t.tokenizer is None:
        raise DataError(
            "data.text.tokenizer: text data needs a tokenizer: a directory saved by "
            "save_pretrained or a tokenizer.json (a hf: student or teacher directory with a "
            "tokenizer provides it)"
        )
    student = TextView(load_tokenizer(t.tokenizer, "data.text.tokenizer"), t.max_length,
                       str(t.tokenizer))  # fmt: skip
    if t.teacher_tokenizer is None or t.teacher_tokenizer == t.tokenizer:
        return student, None
    teacher = TextView(load_tokenizer(t.teacher_tokenizer, "data.text.teacher_tokenizer"),
                       t.max_length, str(t.teacher_tokenizer))  # fmt: skip
    return student, teacher


def save_preprocess(data: Any, run_dir: Any) -> dict[str, Any]:
    """Write ``preprocess.json`` (the student's view, the input signature and, when it
    differs, the teacher's view) and, for text, the tokenizer as ``tokenizer/``, so every
    runtime that runs an artifact can rebuild exactly its inputs. Returns what was written."""
    from pathlib import Path

    from edgekd.fileio import atomic_write_json

    run_dir = Path(run_dir)
    out = dict(data.preprocess)
    out["inputs"] = [s.to_dict() for s in data.specs()]
    out["class_names"] = list(data.class_names)
    if data.teacher_view is not None:
        out["teacher"] = data.teacher_view.to_json()
    tokenizer = getattr(data.train.view, "tokenizer", None)
    if tokenizer is not None:
        tokenizer.save_pretrained(str(run_dir / "tokenizer"))
    atomic_write_json(run_dir / "preprocess.json", out)
    return out
