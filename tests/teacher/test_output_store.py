"""The sharded teacher-output cache: resumable after a kill, top-k, any dataset size."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgekd.cache import Cache
from edgekd.teacher.output_store import cached_outputs, dense_from_top_k, top_k_of

ROOT = Path(__file__).resolve().parents[2]


def _logits(split: str, start: int, stop: int, classes: int = 5) -> np.ndarray:
    rows = np.arange(start, stop)[:, None] + (100_000 if split == "val" else 0)
    return np.sin(rows * (np.arange(classes)[None] + 1.0)).astype(np.float32) * 3


def test_rows_gathered_across_shards_match_and_a_rerun_hits(tmp_path):
    calls = []

    def run(split, start, stop):
        calls.append((split, start, stop))
        for i in range(start, stop, 4):
            yield _logits(split, i, min(i + 4, stop))

    events = []
    cache = Cache(tmp_path, record=events.append)
    sizes = {"train": 23, "val": 7}
    out, hit, info = cached_outputs(cache, ["t", "d"], sizes, run, 5, shard_rows=10)
    assert not hit and len(calls) == 4  # 3 train shards + 1 val shard
    ix = np.array([22, 0, 15, 9, 10])
    assert np.array_equal(out["train"][ix], _logits("train", 0, 23)[ix])
    assert np.array_equal(np.asarray(out["val"]), _logits("val", 0, 7))
    assert info["bytes"] > 30 * 5 * 4 and info["shards"] == 4
    again, hit, _ = cached_outputs(cache, ["t", "d"], sizes, run, 5, shard_rows=10)
    assert hit and len(calls) == 4
    assert [(e["kind"], e["hit"]) for e in events] == [("teacher-outputs", False)] + [
        ("teacher-outputs", True)
    ]
    assert events[0]["bytes"] == info["bytes"]


def test_top_k_keeps_the_top_probabilities_and_the_tail_mass():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, (50, 40)).astype(np.float32)
    k = top_k_of(z, 5)
    dense = dense_from_top_k(k["values"], k["indices"], k["tail"], 40)

    def softmax(a):
        e = np.exp(a - a.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    p, q = softmax(z.astype(np.float64)), softmax(dense.astype(np.float64))
    top = k["indices"].astype(np.int64)
    assert np.allclose(np.take_along_axis(q, top, 1), np.take_along_axis(p, top, 1), atol=1e-5)
    assert np.array_equal(dense.argmax(1), z.argmax(1))
    tail_p = 1 - np.take_along_axis(p, top, 1).sum(1)
    tail_q = 1 - np.take_along_axis(q, top, 1).sum(1)
    assert np.allclose(tail_p, tail_q, atol=1e-5)


def test_top_k_entry_is_smaller_on_disk(tmp_path):
    def run(split, start, stop):
        yield np.random.default_rng(start).normal(size=(stop - start, 200)).astype(np.float32)

    cache = Cache(tmp_path)
    _, _, full = cached_outputs(cache, ["t"], {"train": 300}, run, 200, shard_rows=100)
    out, _, topk = cached_outputs(cache, ["t"], {"train": 300}, run, 200, 100, top_k=8)
    assert topk["top_k"] == 8 and topk["bytes"] < full["bytes"] / 5
    assert out["train"][np.arange(3)].shape == (3, 200)


KILL_SCRIPT = """
import sys, time
import numpy as np
from pathlib import Path
from edgekd.cache import Cache
from edgekd.teacher.output_store import cached_outputs

log = Path(sys.argv[2])

def run(split, start, stop):
    with open(log, "a") as f:
        f.write(f"{split} {start}\\n")
    if sys.argv[3] == "slow" and start >= 20:
        time.sleep(60)  # killed here
    yield np.full((stop - start, 3), start, np.float32)

cached_outputs(Cache(Path(sys.argv[1])), ["k"], {"train": 50}, run, 3, shard_rows=10)
print("done")
"""


def test_a_killed_fill_keeps_its_finished_shards(tmp_path):
    script = tmp_path / "fill.py"
    script.write_text(KILL_SCRIPT)
    log = tmp_path / "calls.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "c"), str(log), "slow"], env=env
    )
    deadline = time.time() + 120
    while time.time() < deadline and "train 20" not in (log.read_text() if log.exists() else ""):
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    (entry,) = (tmp_path / "c" / "teacher-outputs").iterdir()
    assert sorted(p.name for p in entry.glob("*.npy")) == [
        "train-00000.logits.npy",
        "train-00001.logits.npy",
    ]
    assert not (entry / "index.json").exists()  # not complete: never read as a hit
    log.write_text("")
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "c"), str(log), "fast"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert log.read_text().split("\n")[:-1] == ["train 20", "train 30", "train 40"]
    assert (entry / "index.json").is_file()


MEMORY_SCRIPT = """
import sys, tracemalloc
from pathlib import Path
import numpy as np
import torch
from edgekd.cache import Cache
from edgekd.data.config import DataConfig
from edgekd.data.loaders import load_data
from edgekd.teacher.load import module_teacher
from edgekd.teacher.outputs import teacher_outputs
from edgekd.train.config import TrainConfig
from edgekd.train.loop import fit

tmp = Path(sys.argv[1])
cfg = DataConfig(source="text", path=tmp / "big.jsonl", calib_samples=8,
                 text={"tokenizer": tmp / "tok", "max_length": 256})
data = load_data(cfg)

class Bag(torch.nn.Module):
    def __init__(self, vocab, classes):
        super().__init__()
        self.emb = torch.nn.EmbeddingBag(vocab, 8, mode="sum")
        self.out = torch.nn.Linear(8, classes)
    def forward(self, ids, mask):
        return self.out(self.emb(ids, per_sample_weights=mask.float()))

torch.manual_seed(0)
vocab = data.train.view.vocab_size
teacher = module_teacher(Bag(vocab, data.num_classes))
# a first tiny fit imports what training imports lazily (torch's optimizer and compiler
# modules: tens of MB of Python objects that would swamp the measurement)
fit(Bag(vocab, data.num_classes), data.calib, data.calib, TrainConfig(epochs=1, batch_size=4))
tracemalloc.start()
logits, hit = teacher_outputs(teacher, data, Cache(tmp / "cache"), shard_rows=2048)
student = Bag(vocab, data.num_classes)
fit(student, data.train, data.val, TrainConfig(epochs=1, batch_size=256),
    teacher_logits=logits["train"])
_, peak = tracemalloc.get_traced_memory()
whole = len(data.train) * 256 * 8 * 2  # int64 input_ids + attention_mask as one array
print(len(data.train), peak, whole)
"""


@pytest.mark.slow
def test_data_never_materializes_as_one_array(tmp_path):
    """Text data larger than a cache shard goes through the teacher fill and a training
    epoch with a peak of traced allocations far below the split held as one array."""
    from tests.data.fixtures import labelled_texts, word_tokenizer, write_jsonl

    rows = labelled_texts(4000)  # 12,000 texts: ~6 shards of 2048 rows in train
    write_jsonl(tmp_path / "big.jsonl", rows)
    word_tokenizer([t for t, _ in rows[:200]], tmp_path / "tok")
    script = tmp_path / "mem.py"
    script.write_text(MEMORY_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(script), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    n, peak, whole = (int(v) for v in done.stdout.split()[-3:])
    assert n > 2 * 2048
    assert peak < whole / 4, f"peak {peak} bytes vs {whole} for the train split as one array"
