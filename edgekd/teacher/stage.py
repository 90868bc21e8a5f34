"""The ``teacher`` and ``teacher_outputs`` passes.

``teacher``: load the teacher file the recipe names, or train the zoo teacher it describes
(cached), and copy it into the run directory. ``teacher_outputs``: the teacher's logits on
every split, computed once per (teacher, data) into the sharded cache
(``edgekd.teacher.output_store``) and linked into the run directory (``teacher/outputs/``:
the shards and their ``index.json``), so later passes read memory-mapped files and never
run the teacher; no split's logits are ever one array in memory.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekd.artifact import Artifact, Format
from edgekd.fileio import atomic_save
from edgekd.passes import Services, pick

if TYPE_CHECKING:
    from edgekd.recipe.schema import Recipe
    from edgekd.teacher.load import Teacher

OUTPUTS = "teacher/outputs"  # the shards and index.json of the cache entry
# a teacher kind -> its artifact format; anything else is torch
FORMATS: dict[str, Format] = {"onnx": "onnx", "sklearn": "sklearn", "keras": "keras"}


def run(inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services) -> list[Artifact]:
    from edgekd.teacher.train import teacher_from_config

    data = env.data
    teacher, hit, source = teacher_from_config(cfg.teacher, data, env.cache, env.reporter)
    assert teacher.path is not None
    rel = Path("teacher") / teacher.path.name
    src = teacher.path
    if src.is_dir():  # a SavedModel: the directory, recorded by its saved_model.pb
        shutil.copytree(src, run_dir / rel, dirs_exist_ok=True)
        rel = rel / "saved_model.pb"
    else:
        atomic_save(run_dir / rel, lambda tmp: shutil.copyfile(src, tmp))
    art = Artifact(
        id="teacher",
        role="teacher",
        stage="teacher",
        format=FORMATS.get(teacher.kind, "torch"),
        precision="fp32",
        path=str(rel),
        params=teacher.params,
        macs=_macs(teacher, data.teacher_input_shape),
        extra={"source": source, "kind": teacher.kind, "cache_hit": hit, **teacher.info},
    )
    if teacher.spec is not None:
        art.extra["model"] = teacher.spec.to_dict()
    return [art.stamp(run_dir)]


def load(art: Artifact, cfg: Recipe, run_dir: Path, env: Services) -> Teacher:
    """The teacher of a run, from its copy in the run directory."""
    from edgekd.teacher.load import teacher_from_file

    return teacher_from_file(
        art.absolute(run_dir), cfg.teacher, env.data, art.extra.get("model"), art.extra["kind"]
    )


def run_outputs(
    inputs: list[Artifact], cfg: Recipe, run_dir: Path, env: Services
) -> list[Artifact]:
    from edgekd.teacher.outputs import teacher_outputs

    data, teacher_art = env.data, pick(inputs, "teacher")
    teacher = load(teacher_art, cfg, run_dir, env)
    total = len(data.train) + len(data.val) + len(data.test)
    task = env.reporter.task("teacher outputs (cache)", total)
    info: dict[str, Any] = {}
    try:
        _, hit = teacher_outputs(
            teacher,
            data,
            env.cache,
            progress=lambda d, n: task.update(d),
            top_k=cfg.teacher.outputs_top_k,
            info=info,
        )
        task.update(total, "cache hit" if hit else "cached")
    finally:
        task.close()
    from edgekd.distributed import world

    if not world.is_main():
        return []  # rank 0 writes the run's copy
    link_entry(Path(info["path"]), run_dir / OUTPUTS)
    art = Artifact(
        id="teacher-outputs",
        role="data",
        stage="teacher_outputs",
        format="npy",
        precision=None,
        path=str(Path(OUTPUTS) / "index.json"),
        parent="teacher",
        extra={
            "cache_hit": hit,
            "teacher_hash": teacher.identity,
            "bytes_on_disk": info.get("bytes"),
            "shards": info.get("shards"),
            "top_k": info.get("top_k"),
        },
    )
    return [art.stamp(run_dir)]


def link_entry(entry: Path, dest: Path) -> None:
    """The cache entry's shards in ``dest``, ``index.json`` last: hard links (shards never
    change once written) where the file system allows and the cached file already has the
    mode this process would give a new file (the umask), else copies."""
    import os
    import stat

    from edgekd.fileio import current_umask

    mode = 0o666 & ~current_umask()
    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted(entry.glob("*.npy")):
        target = dest / f.name
        if target.exists():
            target.unlink()
        try:
            if stat.S_IMODE(f.stat().st_mode) != mode:
                raise OSError("another mode")
            os.link(f, target)
        except OSError:
            atomic_save(target, lambda tmp, f=f: shutil.copyfile(f, tmp))  # type: ignore[misc]
    atomic_save(dest / "index.json", lambda tmp: shutil.copyfile(entry / "index.json", tmp))


def logits_of(inputs: list[Artifact], run_dir: Path) -> dict[str, Any]:
    """The teacher's logits per split, memory-mapped from the ``teacher-outputs`` input
    (``ShardedLogits``: ``[ix]`` gathers rows, ``np.asarray`` reads a split whole)."""
    from edgekd.teacher.output_store import open_folder

    return dict(open_folder(pick(inputs, "teacher-outputs").absolute(run_dir).parent))


def _macs(teacher: Teacher, input_shape: tuple[int, ...]) -> int | None:
    from torch import nn

    if not isinstance(teacher.module, nn.Module):
        return None
    from edgekd.models.zoo import torch_macs

    try:
        return torch_macs(teacher.module, input_shape)
    except Exception:
        return None  # scripted modules without hookable layers
