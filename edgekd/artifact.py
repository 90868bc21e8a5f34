"""Artifacts: what pipeline stages pass on — a file plus what it is and where it came from."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from edgekd.fileio import sha256_file

Format = Literal["torch", "onnx", "tflite", "sklearn"]
Precision = Literal["fp32", "fp16", "int8"]
Role = Literal["teacher", "baseline", "student"]


@dataclass
class Artifact:
    """A model file and its lineage. ``path`` is relative to the run directory when stored."""

    id: str
    role: Role
    stage: str
    format: Format
    precision: Precision
    path: str
    parent: str | None = None
    sha256: str = ""
    params: int | None = None
    file_bytes: int | None = None
    macs: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    parity: dict[str, Any] | None = None
    status: Literal["ok", "failed"] = "ok"
    extra: dict[str, Any] = field(default_factory=dict)

    def absolute(self, run_dir: str | Path) -> Path:
        return Path(run_dir) / self.path

    def stamp(self, run_dir: str | Path) -> Artifact:
        """Fill sha256 and file size from the file on disk."""
        p = self.absolute(run_dir)
        self.sha256 = sha256_file(p)
        self.file_bytes = p.stat().st_size
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Artifact:
        return cls(**d)


def guess_format(path: str | Path) -> Format:
    """The format of a model file from its suffix (and, for ambiguous cases, its magic bytes)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix == ".tflite":
        return "tflite"
    if suffix in (".pt", ".pth", ".pt2", ".safetensors"):
        return "torch"
    if suffix in (".joblib", ".skops", ".pkl", ".pickle"):
        return "sklearn"
    raise ValueError(f"{path}: unknown model suffix {suffix!r}")
