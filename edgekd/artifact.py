"""Artifacts: what pipeline passes exchange — a file plus what it is and where it came from.

Model artifacts (torch, onnx, tflite, sklearn) are what the reports list. A pass may also
hand on data files: the preprocessing of the data (``json``) and the teacher's outputs
(``npz``), so that no pass needs another's objects in memory.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from edgekd.fileio import sha256_file

Format = Literal["torch", "keras", "onnx", "tflite", "sklearn", "json", "npz", "npy"]
Precision = Literal["fp32", "fp16", "int8", "int4"]
Role = Literal["teacher", "baseline", "student", "data"]
MODEL_FORMATS = ("torch", "keras", "onnx", "tflite", "sklearn")


@dataclass
class Artifact:
    """A file and its lineage. ``path`` is relative to the run directory when stored."""

    id: str
    role: Role
    stage: str
    format: Format
    precision: Precision | None
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

    @property
    def is_model(self) -> bool:
        return self.format in MODEL_FORMATS

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
