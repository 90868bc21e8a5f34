"""A causal-LM student trained on 2 gloo processes (``edgekd.distill.lm_parallel``) against 1.

Tolerance, stated: each rank's token-mean loss is weighted by its share of the global
batch's tokens, so a 2-process step is the 1-process step up to the order of float32 sums
(the all-reduce adds the two halves' gradients); Adam's normalized updates carry such
differences on, and over the few steps here every logged loss agrees within 1e-3 relative.

The end-to-end tests run ``edgekd compress --nproc 2`` for real (torchrun underneath) on a
run that 1 process began and was interrupted (Ctrl-C) after its step-6 checkpoint: with DDP,
filling the teacher's top-k cache sharded over the ranks on the way (a later run finds it
cached); and with FSDP2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from edgekd.distill import lm_parallel as par
from edgekd.distributed.world import World
from edgekd.errors import UsageError

LM = {
    "steps": 12,
    "eval_every": 3,
    "batch_size": 4,
    "lr": 3e-3,
    "max_length": 48,
    "teacher_logprobs": "teacher",
    "top_k": 8,
}
RTOL = 1e-3
STOP_AT = 6  # the interrupted run's last checkpoint


def _world(rank: int, size: int) -> World:
    return World(rank=rank, size=size, local_rank=rank, backend="gloo", device="cpu", timeout_s=5)


def test_ranks_step_on_the_global_batch_of_one_process_in_any_epoch():
    groups = [[2 * g, 2 * g + 1] if g % 3 == 0 else [2 * g] for g in range(14)]
    one = par.GroupBatches(groups, 4, seed=7, w=None)
    two = [par.GroupBatches(groups, 4, seed=7, w=_world(r, 2)) for r in (0, 1)]
    ones, twos = iter(one), [iter(t) for t in two]
    for _ in range(3 * 4):  # three epochs of 4 batches (the last one short)
        a = next(ones)
        b0, b1 = next(twos[0]), next(twos[1])
        assert sorted(a) == sorted(b0 + b1) and not set(b0) & set(b1)
    assert one.state() == {**two[1].state(), "seed": 7} and one.state()["epoch"] == 3


def test_the_sampler_state_resumes_the_same_order_with_another_n():
    groups = [[g] for g in range(12)]
    ref = par.GroupBatches(groups, 4, seed=1, w=None)
    it = iter(ref)
    seen = [next(it) for _ in range(5)]  # epoch 1, batch 2 next
    state = ref.state()
    later = [next(it) for _ in range(4)]
    halves = [par.GroupBatches(groups, 4, seed=1, w=_world(r, 2)) for r in (0, 1)]
    for h in halves:
        h.epoch, h.batch = state["epoch"], state["batch"]
    its = [iter(h) for h in halves]
    assert [sorted(next(its[0]) + next(its[1])) for _ in range(4)] == [sorted(b) for b in later]
    assert seen[0] != later[0]


def test_a_batch_that_the_processes_do_not_divide_is_refused():
    with pytest.raises(UsageError, match=r"distill.lm.batch_size: 5 is not a multiple of the 2"):
        par.per_rank(5, _world(0, 2))


def test_nproc_refuses_a_batch_size_it_cannot_split(tmp_path, lm_teacher, lm_dataset):
    from tests.conftest import run_cli

    recipe = _recipe(tmp_path, lm_teacher, lm_dataset, {**LM, "batch_size": 3})
    code, out = run_cli(["compress", str(recipe), "--nproc", "2", "--quiet"])
    assert code == 2, out
    assert "distill.lm.batch_size: 3 is not a multiple of the 2 processes" in out
    assert "Traceback" not in out


def test_fsdp_refuses_on_policy_batches(tmp_path, lm_teacher, lm_dataset):
    from tests.conftest import run_cli

    lm = {**LM, "strategy": "fsdp", "lmbda": 0.5}
    code, out = run_cli(["compress", str(_recipe(tmp_path, lm_teacher, lm_dataset, lm))])
    assert code == 2, out
    assert "distill.lm" in out and "strategy: fsdp shards the student" in out
    assert "Traceback" not in out


def _recipe(tmp_path: Path, teacher: Path, data: Path, lm: dict, name: str = "lm") -> Path:
    r = {
        "task": "causal_lm",
        "data": {"source": "completions", "path": str(data)},
        "teacher": {"model": f"hf:{teacher}"},
        "student": {"init_from_teacher": {"layers": [0, 3]}, "trim_vocab": True},
        "distill": {"lm": lm},
        "evaluate": {"lm": {"max_new_tokens": 4, "prompts": 2}},
        "output": {"dir": str(tmp_path / "runs"), "name": name},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(r))
    return path


class _StopAt:
    """A reporter that presses Ctrl-C once the student has trained ``step`` steps."""

    def __init__(self, step: int) -> None:
        self.step = step

    def task(self, description: str, total: int) -> Any:
        stop = self.step if description == "distill LM student" else None

        class Task:
            def update(self, completed: int, info: str = "") -> None:
                if stop is not None and completed >= stop:
                    raise KeyboardInterrupt

            def close(self) -> None:
                pass

        return Task()

    def log(self, message: str) -> None:
        pass

    def close(self) -> None:
        pass


def _student(run: Path) -> dict[str, Any]:
    manifest = json.loads((run / "manifest.json").read_text())
    return next(a for a in manifest["artifacts"] if a["id"] == "student")


def _nproc2(recipe: Path, cache: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "EDGEKD_CACHE": str(cache)}
    cmd = [sys.executable, "-m", "edgekd", "compress", str(recipe), "--quiet", "--nproc", "2"]
    return subprocess.run(
        [*cmd, *extra], env=env, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture(scope="module")
def one_process(lm_teacher, lm_dataset, tmp_path_factory) -> dict[str, Any]:
    """The reference: the recipe trained start to end by one process."""
    import edgekd
    from edgekd.recipe.load import load_recipe

    tmp = tmp_path_factory.mktemp("lm-one")
    own_cache = [f"output.cache_dir={tmp / 'cache'}"]  # its teacher fill runs, whatever ran before
    result = edgekd.compress(load_recipe(_recipe(tmp, lm_teacher, lm_dataset, LM), own_cache))
    return _student(result.run_dir)


def _close(a: list[float], b: list[float]) -> None:
    assert len(a) == len(b) == LM["steps"] // LM["eval_every"]
    for x, y in zip(a, b, strict=True):
        assert abs(x - y) <= RTOL * abs(y), (a, b)


@pytest.mark.slow
def test_two_processes_resume_one_and_match_it(one_process, lm_teacher, lm_dataset, tmp_path):
    import edgekd
    from edgekd.errors import RunInterrupted
    from edgekd.recipe.load import load_recipe

    recipe = _recipe(tmp_path, lm_teacher, lm_dataset, LM)
    with pytest.raises(RunInterrupted) as stopped:
        edgekd.compress(load_recipe(recipe), reporter=_StopAt(STOP_AT))
    run = stopped.value.run_dir
    cache = tmp_path / "cache2"  # the 2 ranks fill the teacher's top-k afresh, sharded
    proc = _nproc2(recipe, cache, "--resume")
    assert proc.returncode == 0, proc.stderr[-3000:]

    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["distributed"] == {
        "world_size": 2, "backend": "gloo", "device": "cpu", "timeout_s": 300.0,
        "strategy": "ddp",
    }  # fmt: skip
    assert manifest["resumes"][-1]["from_stage"] == "distill"
    ranks = manifest["stages"]["distill"]["ranks"]
    assert [r["rank"] for r in ranks] == [0, 1] and all(r["seconds"] > 0 for r in ranks)
    student = _student(run)
    rows = student["extra"]["teacher_rows"]  # the teacher ran each example once, shared out
    assert len(rows) == 2 and all(r > 0 for r in rows) and abs(rows[0] - rows[1]) <= 1
    assert sum(rows) == student["extra"]["examples"]["examples"]
    assert one_process["extra"]["teacher_rows"] == [sum(rows)]
    trained, ref = student["extra"]["training"], one_process["extra"]["training"]
    assert trained["steps"] == LM["steps"] and trained["tokens"] == ref["tokens"]
    _close(trained["loss"], ref["loss"])  # steps 1-6 on 1 process, 7-12 on 2
    assert manifest["stages"]["evaluate"]["status"] == "done"

    rerun = _recipe(tmp_path, lm_teacher, lm_dataset, LM, "rerun")
    again = edgekd.compress(load_recipe(rerun, [f"output.cache_dir={cache}"]))
    assert _student(again.run_dir)["extra"]["teacher_rows"] == [0]  # cached: the teacher never ran


@pytest.mark.slow
def test_fsdp_shards_the_student_resumes_and_matches_one_process(
    one_process, lm_teacher, lm_dataset, tmp_path
):
    """FSDP2 on gloo (CPU): the 2 ranks load the whole-tensor checkpoint 1 process wrote into
    their shards, train, and gather the whole student for rank 0 to save."""
    import edgekd
    from edgekd.errors import RunInterrupted
    from edgekd.recipe.load import load_recipe

    recipe = _recipe(tmp_path, lm_teacher, lm_dataset, {**LM, "strategy": "fsdp"})
    with pytest.raises(RunInterrupted) as stopped:  # strategy is unused on one process
        edgekd.compress(load_recipe(recipe), reporter=_StopAt(STOP_AT))
    proc = _nproc2(recipe, tmp_path / "cache", "--resume")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = stopped.value.run_dir
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["distributed"]["strategy"] == "fsdp" and manifest["status"] == "complete"
    student = _student(run)
    assert student["params"] == one_process["params"]  # the whole student, gathered
    _close(student["extra"]["training"]["loss"], one_process["extra"]["training"]["loss"])
    assert student["metrics"]["top1"] == pytest.approx(one_process["metrics"]["top1"], abs=0.1)
