"""The loop that runs a plan: each pass gets its input artifacts, its outputs go into the
manifest with lineage and timings, and a pass whose outputs exist for the same key is
skipped, so a resumed run redoes only what did not finish.

A pass's key hashes its name, the recipe sections it reads, the data's hash and the sha256
of every input file. A pass is finished when the manifest records it done under that key
and each of its output files is still there with the sha256 it had.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from edgekd.artifact import Artifact
from edgekd.cache import cache_key
from edgekd.distributed import world
from edgekd.errors import EdgekdError, ParityError, StageError
from edgekd.passes import Services
from edgekd.pipeline.distributed import last_distributed, timing
from edgekd.pipeline.plan import Pass
from edgekd.recipe.schema import Recipe
from edgekd.rundir import RunDir


def pass_key(p: Pass, recipe_json: dict[str, Any], inputs: list[Artifact], data_hash: str) -> str:
    sections = json.dumps({s: recipe_json[s] for s in p.sections}, sort_keys=True)
    return cache_key([p.name, sections, data_hash, *(f"{a.id}:{a.sha256}" for a in inputs)])


def run_passes(
    passes: list[Pass],
    recipe: Recipe,
    run: RunDir,
    env: Services,
    on_pass: Callable[[str], None] | None = None,
) -> list[str]:
    """Run (or skip) each pass in order; returns the names of the passes skipped.

    Raises the typed errors of :mod:`edgekd.errors`; the manifest records which pass
    failed. A pass that returns a failed artifact (a parity gate, an accuracy bar) has its
    outputs recorded, then fails.
    """
    recipe_json = recipe.model_dump(mode="json")
    attempt = len(run.manifest.get("attempts") or []) or 1
    skipped = []
    # on a distributed run, the passes up to here are where the other ranks meet rank 0
    # (pipeline.distributed.follow is their side of each meeting)
    shared = last_distributed(passes) if world.world() is not None else -1
    for i, p in enumerate(passes):
        started = time.perf_counter()
        if on_pass is not None:
            on_pass(p.name)
        ranks: list[Any] | None = None
        try:
            inputs = p.select(run.artifacts())
            key = pass_key(p, recipe_json, inputs, env.data_hash())
            done = run.pass_done(p.name, key)
            if i <= shared:
                world.broadcast(done, f"whether pass {p.name} is done")
            if done:
                skipped.append(p.name)
                if i <= shared:
                    world.wait(f"rank 0 finishing pass {p.name}")
                continue
            run.begin_stage(p.name)
            if i <= shared and p.distributed:
                with world.collective():
                    outputs = p.run(inputs, recipe, run.path, env)
                ranks = world.gather(timing(time.perf_counter() - started), "pass timings")
            else:
                outputs = p.run(inputs, recipe, run.path, env)
            for art in outputs:
                run.put_artifact(art)
            failed = [a for a in outputs if a.status == "failed"]
            if failed:
                raise _failure(failed)
        except BaseException as exc:
            status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            run.manifest["status"] = status
            msg = str(exc) if isinstance(exc, EdgekdError) else f"{type(exc).__name__}: {exc}"
            run.end_stage(p.name, started, status=status, error=msg, attempt=attempt)
            raise
        info: dict[str, Any] = {"inputs": [a.id for a in inputs]}
        info["outputs"] = [a.id for a in outputs]
        if ranks is not None:
            info["ranks"] = ranks  # every rank's time on the pass
        run.end_stage(p.name, started, key=key, attempt=attempt, **info)
        if i <= shared:
            world.wait(f"rank 0 finishing pass {p.name}")
    return skipped


def _failure(failed: list[Artifact]) -> StageError:
    message = " | ".join(str(a.extra.get("error") or f"{a.path} failed") for a in failed)
    if any(a.extra.get("error_kind") == "parity" for a in failed):
        return ParityError(message)
    return StageError(message)
