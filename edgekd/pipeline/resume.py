"""``--resume``: find the run to continue, clean what a crash left behind, record the resume.

A run matches when its whole resolved recipe does (the config hash), ``--set`` flags included.
When none does, the error lists the unfinished runs and how their recipes differ, so a user
who forgot a ``--set`` sees which one. A run left ``running`` by a process that no longer
exists (killed, machine rebooted) is treated as interrupted.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgekd.errors import UsageError
from edgekd.fileio import is_temporary
from edgekd.rundir import RunDir, config_hash, this_process

MAX_DIFFERENCES = 5  # per run in the "no run matches" message


def find_run(out_dir: Path, recipe_json: dict[str, Any]) -> RunDir:
    """The newest unfinished run under ``out_dir`` with this recipe, or a ``UsageError``."""
    name, chash = recipe_json["output"]["name"], config_hash(recipe_json)
    unfinished = RunDir.unfinished(out_dir)
    for run in unfinished:
        if run.manifest.get("config_hash") != chash:
            continue
        alive = run.still_running()
        if alive is None or alive:
            proc = run.manifest.get("process") or {}
            where = "" if alive else f" on host {proc.get('host')}, not checkable from here"
            raise UsageError(
                f"--resume: {run.path} is still running (pid {proc.get('pid')}{where}); "
                "wait for it to finish or stop it first"
            )
        return run
    raise UsageError(no_match_message(out_dir, name, recipe_json, unfinished))


def no_match_message(
    out_dir: Path, name: str, recipe_json: dict[str, Any], unfinished: list[RunDir]
) -> str:
    head = (
        f"--resume: no unfinished run of {name!r} under {out_dir} has this recipe; --resume "
        "continues a run only with the same recipe file and the same --set flags"
    )
    if not unfinished:
        return f"{head}, and there is no unfinished run under {out_dir}"
    lines = [f"{head}. Unfinished runs there, and how their recipes differ from this one:"]
    for run in unfinished:
        diffs = recipe_differences(run.manifest.get("recipe") or {}, recipe_json)
        shown = ", ".join(diffs[:MAX_DIFFERENCES]) or "same recipe, other edgekd version"
        more = len(diffs) - MAX_DIFFERENCES
        lines.append(f"  {run.path.name}: {shown}" + (f" (and {more} more)" if more > 0 else ""))
    return "\n".join(lines)


def recipe_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``distill.epochs 3 (now 5)`` for each field whose value differs, in recipe order."""
    a, b = _flatten(old), _flatten(new)
    keys = [*b, *(k for k in a if k not in b)]
    return [
        f"{k} {_show(a.get(k, _ABSENT))} (now {_show(b.get(k, _ABSENT))})"
        for k in keys
        if a.get(k, _ABSENT) != b.get(k, _ABSENT)
    ]


_ABSENT = object()


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "unset"
    return value if isinstance(value, str) else json.dumps(value)


def prepare_resume(run: RunDir, stages: list[str]) -> dict[str, Any]:
    """Make a found run ready to continue and append the resume to ``manifest["resumes"]``:
    when, from which stage, what state it was left in, and the temporaries removed."""
    m = run.manifest
    killed = m.get("status") == "running"  # find_run checked that its process is gone
    for info in m["stages"].values():
        if info.get("status") == "running":
            info.update(status="interrupted", error="the process ended without saving")
    entry = {
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "from_stage": next((s for s in stages if not _finished(m, s)), None),
        "previous_status": "interrupted" if killed else m.get("status"),
        "killed": killed,
        "previous_process": m.get("process"),
        "removed_temporaries": remove_temporaries(run.path),
    }
    m.setdefault("resumes", []).append(entry)
    m["process"] = this_process()
    m["status"] = "running"
    run.save()
    return entry


def _finished(manifest: dict[str, Any], stage: str) -> bool:
    return (manifest.get("stages") or {}).get(stage, {}).get("status") == "done"


def remove_temporaries(root: Path) -> list[str]:
    """Delete the ``.NAME.XXXX.part`` files (and directories) that atomic writes leave when
    the process is killed mid-write; returns their paths relative to ``root``."""
    found = sorted(p for p in root.rglob("*") if is_temporary(p))
    removed = []
    for p in found:
        if not p.exists():  # inside a temporary directory removed just before
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
        removed.append(str(p.relative_to(root)))
    return removed
