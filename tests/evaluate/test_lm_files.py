"""Exported language models scored on the held-out split by their own runtime
(``edgekd.evaluate.lm_files``): the float files reproduce the torch parent's scores, an
int8 file is scored on its own, and a file whose context is too short leaves sequences out."""

from __future__ import annotations

import numpy as np
import pytest

from edgekd.distill.lm_score import teacher_forced
from edgekd.evaluate.lm_files import evaluate_lm_file, greedy_ids
from edgekd.evaluate.lm_stage import held_out


@pytest.fixture(scope="module")
def held(lm_export, lm_dataset):
    _, model_dir = lm_export
    return held_out(model_dir, lm_dataset, split="val")


def _parent_answers(h, n: int, new: int) -> list[str]:
    from edgekd.runtime.lm_runners import TorchLM

    runner = TorchLM(h.model)
    out = []
    for ex in h.examples[:n]:
        ids = greedy_ids(
            runner, [int(i) for i in ex.input_ids[: ex.prompt_len]], new, h.stops, None
        )
        out.append(h.tokenizer.decode(ids, skip_special_tokens=True).strip())
    return out


@pytest.mark.parametrize("name", ["model.onnx", "model.fp32.tflite"])
def test_a_float_file_scores_like_its_parent(lm_export, held, name):
    out, _ = lm_export
    pad = int(held.tokenizer.pad_token_id)
    ref = teacher_forced(held.model, held.examples, held.rows, pad, None, "dataset")
    answers = _parent_answers(held, 3, 6)
    got = evaluate_lm_file(out / name, held, answers, 6)
    assert held.source == "dataset" and got["records"] == len(held.examples) > 0
    assert got["agreement"] >= 0.95 and got["greedy_match"] >= 2 / 3
    for key in ("kl", "nll"):
        assert got[key] == pytest.approx(ref[key], abs=1e-3)
    assert abs(got["top1"] - ref["top1"]) <= 0.05


def test_an_int8_file_is_scored_with_its_own_runtime(lm_export, held):
    out, _ = lm_export
    got = evaluate_lm_file(out / "model.dynamic_int8.tflite", held, _parent_answers(held, 2, 6), 6)
    assert 0 <= got["top1"] <= 1 and got["kl"] >= 0 and np.isfinite(got["ppl"])
    assert 0 < got["agreement"] <= 1 and got["rouge_prompts"] == 2


def test_sequences_longer_than_the_files_context_are_left_out(lm_export, held, monkeypatch):
    from edgekd.runtime import lm_runners

    out, _ = lm_export
    longest = max(len(ex) for ex in held.examples)
    real = lm_runners.open_runner

    def short(path, threads=None):
        r = real(path, threads)
        r.max_context = longest - 1
        return r

    monkeypatch.setattr(lm_runners, "open_runner", short)
    got = evaluate_lm_file(out / "model.onnx", held, [], 4)
    too_long = sum(len(ex) > longest - 1 for ex in held.examples)
    assert got["skipped_longer_than_context"] == too_long >= 1
    assert got["records"] == len(held.examples) - too_long
