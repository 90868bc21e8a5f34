"""Images: an image-folder source (one subfolder per class) and the image view.

Preprocessing follows the ImageNet recipe torchvision uses (He et al. 2016; Szegedy et al.
2015): for evaluation, resize the shorter side to ``resize`` then center-crop ``size``; for
training, a random resized crop (area ``scale`` of the image, aspect ratio ``ratio``, as
torchvision's ``RandomResizedCrop``) and a random horizontal flip. Pixels go to [0, 1], then
``(x - mean) / std`` per channel. PIL and numpy do the work, so no torchvision is needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekd.data.inputs import InputSpec
from edgekd.errors import DataError, require

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # torchvision's ImageNet statistics
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class FolderScan:
    """Image files and their class (index into ``classes``), in a fixed sorted order."""

    files: list[str]
    labels: np.ndarray
    classes: list[str]


def scan_folder(root: Path) -> FolderScan:
    """``root/<class>/<image>``; refuses a folder with no class subfolders or a class with no
    images (naming it). Files are sorted, so the order, and the split, is stable."""
    if not root.is_dir():
        raise DataError(f"data.path: {root}: not a directory (expected an image folder)")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        loose = [p.name for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES][:3]
        hint = f" (found images {', '.join(loose)} directly in it)" if loose else ""
        raise DataError(
            f"{root}: no class subfolders{hint}; expected one folder per class holding its "
            "images, e.g. {root}/cat/001.jpg and {root}/dog/001.jpg".replace("{root}", str(root))
        )
    files, labels = [], []
    for c, name in enumerate(classes):
        found = sorted(
            str(p)
            for p in (root / name).rglob("*")
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
        )
        if not found:
            raise DataError(
                f"{root / name}: class {name!r} has no images (expected files ending in "
                f"{', '.join(IMAGE_SUFFIXES[:4])}, ...): add images or remove the folder"
            )
        files += found
        labels += [c] * len(found)
    return FolderScan(files, np.asarray(labels, np.int64), classes)


def open_image(item: Any) -> Any:
    """An RGB PIL image from a path (or a PIL image from a ``datasets`` column); a file PIL
    cannot decode is a ``DataError`` naming it."""
    image_mod = require("PIL.Image", "data")
    if isinstance(item, image_mod.Image):
        return item.convert("RGB")
    try:
        with image_mod.open(item) as im:
            im.load()
            return im.convert("RGB")
    except Exception as exc:
        raise DataError(f"{item}: unreadable image ({type(exc).__name__}: {exc})") from None


def check_images(files: Sequence[str]) -> None:
    """Decode every image once (so a broken file is named before any training starts)."""
    for f in files:
        open_image(f)


@dataclass(frozen=True)
class ImageView:
    """Image preprocessing: ``size`` (H, W) center crop after resizing the shorter side to
    ``resize``; in training a random resized crop and flip instead. ``channels`` 1 or 3."""

    size: tuple[int, int]
    resize: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    channels: int = 3
    augment: bool = True
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: bool = True
    kind: str = field(default="image")

    def specs(self) -> list[InputSpec]:
        return [InputSpec("input", "float32", (self.channels, *self.size))]

    def batch(self, items: Sequence[Any], train: bool, rng: np.random.Generator) -> np.ndarray:
        out = np.empty((len(items), self.channels, *self.size), np.float32)
        for i, item in enumerate(items):
            out[i] = self.one(item, train, rng)
        return out

    def one(self, item: Any, train: bool, rng: np.random.Generator) -> np.ndarray:
        im = open_image(item)
        if train and self.augment:
            im = self._random_resized_crop(im, rng)
            if self.flip and rng.random() < 0.5:
                im = im.transpose(0)  # PIL.Image.FLIP_LEFT_RIGHT
        else:
            im = self._resize_center_crop(im)
        if self.channels == 1:
            im = im.convert("L")
        x = np.asarray(im, np.float32) / 255.0
        x = x[None] if x.ndim == 2 else x.transpose(2, 0, 1)
        mean = np.asarray(self.mean, np.float32)[:, None, None]
        std = np.asarray(self.std, np.float32)[:, None, None]
        return (x - mean) / std

    def _resize_center_crop(self, im: Any) -> Any:
        h, w = self.size
        s = self.resize / min(im.size)
        im = im.resize((max(w, round(im.width * s)), max(h, round(im.height * s))), 2)  # bilinear
        left, top = (im.width - w) // 2, (im.height - h) // 2
        return im.crop((left, top, left + w, top + h))

    def _random_resized_crop(self, im: Any, rng: np.random.Generator) -> Any:
        """torchvision's ``RandomResizedCrop.get_params``: 10 tries at a random area and
        log-uniform aspect ratio, else the center crop of the clamped ratio."""
        width, height = im.size
        area = width * height
        log_r = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target = area * rng.uniform(*self.scale)
            aspect = math.exp(rng.uniform(*log_r))
            w = round(math.sqrt(target * aspect))
            h = round(math.sqrt(target / aspect))
            if 0 < w <= width and 0 < h <= height:
                top = int(rng.integers(0, height - h + 1))
                left = int(rng.integers(0, width - w + 1))
                break
        else:
            in_ratio = width / height
            if in_ratio < self.ratio[0]:
                w, h = width, round(width / self.ratio[0])
            elif in_ratio > self.ratio[1]:
                h, w = height, round(height * self.ratio[1])
            else:
                w, h = width, height
            top, left = (height - h) // 2, (width - w) // 2
        crop = im.crop((left, top, left + w, top + h))
        return crop.resize((self.size[1], self.size[0]), 2)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "image",
            "input": "input",
            "layout": "NCHW",
            "channels": self.channels,
            "image_size": list(self.size),
            "resize_shorter_side": self.resize,
            "center_crop": list(self.size),
            "interpolation": "bilinear",
            "scale": "1/255",
            "mean": list(self.mean),
            "std": list(self.std),
            "train_augment": (
                {"random_resized_crop": {"scale": list(self.scale), "ratio": list(self.ratio)},
                 "horizontal_flip": self.flip}
                if self.augment
                else None
            ),
        }  # fmt: skip


def channel_stats(
    view: ImageView, items: Sequence[Any], limit: int = 512
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of up to ``limit`` evenly spaced training images (as the
    evaluation transform sees them), streamed: never more than one image in memory."""
    unit = ImageView(view.size, view.resize, (0.0,) * view.channels, (1.0,) * view.channels,
                     view.channels, augment=False)  # fmt: skip
    picks = np.linspace(0, len(items) - 1, min(limit, len(items))).round().astype(int)
    s = np.zeros(view.channels)
    s2 = np.zeros(view.channels)
    n = 0
    rng = np.random.default_rng(0)
    for i in np.unique(picks):
        x = unit.one(items[int(i)], False, rng).astype(np.float64)
        s += x.sum(axis=(1, 2))
        s2 += (x**2).sum(axis=(1, 2))
        n += x.shape[1] * x.shape[2]
    mean = s / n
    std = np.sqrt(np.maximum(s2 / n - mean**2, 0.0))
    std = np.where(std < 1e-6, 1.0, std)
    return tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std)
