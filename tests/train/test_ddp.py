"""DDP training (``edgekd.train.ddp``) on 2 gloo processes against 1, started by torchrun.

Tolerances, stated: the two ranks of a run end with *identical* weights (DDP averages the
gradients, and BatchNorm running statistics are averaged at every epoch end). Against one
process with the same global batch and the same sampler order, a BatchNorm-free student
differs only by floating point and the one sample ``DistributedSampler`` repeats to even out
the ranks, which Adam's normalized steps amplify a little: val predictions agree on >= 97%
of rows. A BatchNorm student also normalizes each rank's half batch with that half's
statistics (torch's SyncBatchNorm is GPU-only): agreement >= 80% and val accuracy within 8
points after 3 epochs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("ddp_worker.py")
EPOCHS = 3


def _launch(nproc: int, out: Path, cache: Path) -> list[dict]:
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    cmd += [f"--nproc-per-node={nproc}", str(WORKER), str(out), str(cache), str(EPOCHS)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(nproc)]


def _agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.argmax(1) == b.argmax(1)).float().mean())


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, list[dict]]:
    root = tmp_path_factory.mktemp("ddp")
    return {n: _launch(n, root / f"n{n}", root / f"cache{n}") for n in (1, 2)}


@pytest.mark.slow
def test_both_ranks_end_with_identical_weights(runs):
    r0, r1 = runs[2]
    assert r0["world"] == {**r1["world"], "world_size": 2, "backend": "gloo"}
    for student in ("cnn", "linear"):
        a, b = r0[student]["state"], r1[student]["state"]
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), f"{student}.{k} differs between the ranks"
        assert r0[student]["history"] == r1[student]["history"]


@pytest.mark.slow
def test_two_processes_match_one_with_the_same_global_batch(runs):
    (one,), (two, _) = runs[1], runs[2]
    lin1, lin2 = one["linear"], two["linear"]
    assert _agreement(lin1["val_logits"], lin2["val_logits"]) >= 0.97
    assert len(lin2["history"]["train_loss"]) == EPOCHS
    for a, b in zip(lin1["history"]["train_loss"], lin2["history"]["train_loss"], strict=True):
        assert abs(a - b) <= 0.02 * abs(a)  # the global loss, averaged over the ranks
    cnn1, cnn2 = one["cnn"], two["cnn"]
    assert _agreement(cnn1["val_logits"], cnn2["val_logits"]) >= 0.80
    acc1, acc2 = cnn1["history"]["val_accuracy"][-1], cnn2["history"]["val_accuracy"][-1]
    assert abs(acc1 - acc2) <= 0.08


@pytest.mark.slow
def test_teacher_runs_once_per_sample_across_ranks_and_reruns(runs):
    for n, ranks in runs.items():
        assert sum(r["teacher_rows"] for r in ranks) == ranks[0]["rows"], f"{n} processes"
        assert all(r["teacher_rows"] > 0 for r in ranks)  # the fill is shared out (3 shards)
        assert all(not r["cache_hit"] and r["rerun_hit"] for r in ranks)
        assert all(r["rerun_teacher_rows"] == 0 for r in ranks)
