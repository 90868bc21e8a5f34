"""The run directory: ``<out>/<name>-<timestamp>/`` with every artifact and ``manifest.json``.

The manifest holds the resolved recipe, library versions, the config hash, lineage (each
artifact's parent), the sha256 of every file, metrics and stage timings. It is rewritten
atomically after every stage, so ``--resume`` can continue from the last finished stage. It
also names the process that writes it (pid, host, start time), so that a run left ``running``
by a killed process can be told from one that is still going.
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
from edgekd.fileio import PART_SUFFIX, atomic_write_json, sha256_bytes, sha256_file

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
    "tensorflow",
    "tf-keras",
    "tensorflow-model-optimization",
)


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def this_process() -> dict[str, Any]:
    """What identifies the process writing a run: pid, host and (Linux) its start time."""
    pid = os.getpid()
    return {"pid": pid, "host": platform.node(), "start_ticks": _start_ticks(pid)}


def _proc_stat(pid: int) -> list[str] | None:
    """Fields 3.. of ``/proc/PID/stat`` (state, ppid, ...), or None where there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    return text.rsplit(")", 1)[1].split()


def _start_ticks(pid: int) -> int | None:
    fields = _proc_stat(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None  # field 22: starttime


def process_alive(info: dict[str, Any]) -> bool | None:
    """Whether the process in ``info`` (from :func:`this_process`) is still running.

    None when it ran on another host (cannot be checked from here). A pid that was reused
    by another process since (different start time) or a zombie counts as ended.
    """
    if info.get("host") != platform.node():
        return None
    pid = info.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid() and info.get("start_ticks") == _start_ticks(pid):
        return False  # this very process, which is not running that run now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    fields = _proc_stat(pid)
    if fields is None:
        return True
    if fields[0] in ("Z", "X"):  # exited, not yet reaped by its parent
        return False
    recorded = info.get("start_ticks")
    return recorded is None or _start_ticks(pid) == recorded


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
            "process": this_process(),
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
    def unfinished(cls, out_dir: Path) -> list[RunDir]:
        """Every run directory under ``out_dir`` that did not complete, newest first."""
        runs = []
        for mpath in Path(out_dir).glob(f"*/{MANIFEST}"):
            try:
                run = cls.open(mpath.parent)
            except (UsageError, OSError):
                continue
            if run.manifest.get("status") != "complete":
                runs.append(run)
        runs.sort(key=lambda r: (r.manifest.get("created", ""), r.path.name), reverse=True)
        return runs

    def still_running(self) -> bool | None:
        """True if the process that marked this run ``running`` is alive (None: on another
        host, cannot tell); False for a finished, failed or interrupted run, or a killed one."""
        if self.manifest.get("status") != "running":
            return False
        return process_alive(self.manifest.get("process") or {})

    # -- state ----------------------------------------------------------------------------
    def save(self) -> None:
        self.manifest["files"] = {
            str(p.relative_to(self.path)): self._sha256(p)
            for p in sorted(self.path.rglob("*"))
            if p.is_file() and _listed(p.relative_to(self.path))
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


def _listed(rel: Path) -> bool:
    """Whether a file belongs in the manifest's file list: not the manifest itself, not a
    temporary (``*.part``, or inside one), not a training checkpoint."""
    return (
        str(rel) != MANIFEST
        and not any(part.endswith(PART_SUFFIX) for part in rel.parts)
        and rel.parts[0] != "checkpoints"
    )
