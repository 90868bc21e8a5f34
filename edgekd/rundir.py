"""The run directory: ``<out>/<name>-<timestamp>/`` with every artifact and ``manifest.json``.

The manifest holds the resolved recipe, library versions, the config hash, lineage (each
artifact's parent), the sha256 of every file, metrics and stage timings. It is rewritten
atomically after every stage, so ``--resume`` can continue from the last finished stage.
"""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from edgekd.artifact import Artifact
from edgekd.errors import UsageError
from edgekd.fileio import atomic_write_json, sha256_bytes, sha256_file

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = 1
LIBRARIES = (
    "edgekd",
    "torch",
    "numpy",
    "scikit-learn",
    "onnx",
    "onnxruntime",
    "ai-edge-litert",
    "litert-torch",
)


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def config_hash(recipe_json: dict[str, Any]) -> str:
    return sha256_bytes(json.dumps(recipe_json, sort_keys=True).encode())[:16]


class RunDir:
    """A run directory and its manifest."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest
        # relative path -> (size, mtime_ns, sha256): the manifest is saved after every stage,
        # and a file that did not change is not hashed again
        self._hashes: dict[str, tuple[int, int, str]] = {}

    # -- creation and discovery -------------------------------------------------------
    @classmethod
    def create(cls, out_dir: Path, name: str, recipe_json: dict[str, Any]) -> RunDir:
        out_dir = Path(out_dir)
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            if not os.access(out_dir, os.W_OK):
                raise PermissionError(out_dir)
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            path = out_dir / f"{name}-{stamp}"
            n = 1
            while path.exists():
                n += 1
                path = out_dir / f"{name}-{stamp}-{n}"
            path.mkdir()
        except OSError as exc:
            raise UsageError(
                f"output.dir: cannot write run directory under {out_dir} ({exc.strerror or exc}); "
                "choose a writable directory with --out"
            ) from None
        manifest = {
            "schema": MANIFEST_SCHEMA,
            "name": name,
            "status": "running",
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "config_hash": config_hash(recipe_json),
            "recipe": recipe_json,
            "versions": library_versions(),
            "stages": {},
            "artifacts": [],
            "files": {},
        }
        run = cls(path, manifest)
        run.save()
        return run

    @classmethod
    def open(cls, path: Path) -> RunDir:
        mpath = Path(path) / MANIFEST
        if not mpath.is_file():
            raise UsageError(f"{path}: not a run directory (no {MANIFEST})")
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"{mpath}: corrupt manifest ({exc})") from None
        if not isinstance(manifest, dict) or "schema" not in manifest:
            raise UsageError(f"{mpath}: corrupt manifest (no schema field)")
        if manifest["schema"] > MANIFEST_SCHEMA:
            raise UsageError(
                f"{mpath}: manifest schema {manifest['schema']} is newer than this edgekd "
                f"understands ({MANIFEST_SCHEMA}); upgrade edgekd"
            )
        return cls(Path(path), manifest)

    @classmethod
    def latest_unfinished(cls, out_dir: Path, name: str, chash: str) -> RunDir | None:
        """The newest run of this recipe (same config hash) that did not complete."""
        candidates = sorted(
            Path(out_dir).glob(f"{name}-*/{MANIFEST}"), key=lambda p: p.stat().st_mtime
        )
        for mpath in reversed(candidates):
            try:
                run = cls.open(mpath.parent)
            except UsageError:
                continue
            if (
                run.manifest.get("config_hash") == chash
                and run.manifest.get("status") != "complete"
            ):
                return run
        return None

    # -- state ----------------------------------------------------------------------------
    def save(self) -> None:
        self.manifest["files"] = {
            str(p.relative_to(self.path)): self._sha256(p)
            for p in sorted(self.path.rglob("*"))
            if p.is_file()
            and p.name != MANIFEST
            and not p.name.endswith(".part")
            and "checkpoints" not in p.parts
        }
        atomic_write_json(self.path / MANIFEST, self.manifest)

    def _sha256(self, path: Path) -> str:
        st = path.stat()
        key = str(path.relative_to(self.path))
        cached = self._hashes.get(key)
        if cached is not None and cached[:2] == (st.st_size, st.st_mtime_ns):
            return cached[2]
        digest = sha256_file(path)
        self._hashes[key] = (st.st_size, st.st_mtime_ns, digest)
        return digest

    def pass_done(self, name: str, key: str) -> bool:
        """Did pass ``name`` finish under ``key``, and are its output files still as it left
        them (present, same sha256)?"""
        record = self.manifest["stages"].get(name, {})
        if record.get("status") != "done" or record.get("key") != key:
            return False
        arts = {a.id: a for a in self.artifacts()}
        for art_id in record.get("outputs", []):
            art = arts.get(art_id)
            path = None if art is None else self.path / art.path
            if (
                art is None
                or path is None
                or not path.is_file()
                or self._sha256(path) != art.sha256
            ):
                return False
        return True

    def begin_stage(self, name: str) -> float:
        self.manifest["stages"][name] = {"status": "running"}
        return time.perf_counter()

    def end_stage(self, name: str, started: float, status: str = "done", **info: Any) -> None:
        self.manifest["stages"][name] = {
            "status": status,
            "seconds": round(time.perf_counter() - started, 3),
            **info,
        }
        self.save()

    def artifacts(self) -> list[Artifact]:
        return [Artifact.from_dict(a) for a in self.manifest["artifacts"]]

    def artifact(self, artifact_id: str) -> Artifact | None:
        for a in self.artifacts():
            if a.id == artifact_id:
                return a
        return None

    def put_artifact(self, art: Artifact) -> None:
        """Add or replace an artifact (by id) in the manifest."""
        rest = [a for a in self.manifest["artifacts"] if a["id"] != art.id]
        self.manifest["artifacts"] = [*rest, art.to_dict()]
