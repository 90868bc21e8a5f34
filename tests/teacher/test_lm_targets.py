"""The teacher's top-k + tail rows: from the dataset, from a local teacher (cached, memory-
mapped), and moved into a trimmed student's vocabulary."""

import math

import numpy as np
import pytest
import torch

from edgekd.cache import Cache
from edgekd.completions import logprobs as lp
from edgekd.completions.dataset import read_dataset
from edgekd.completions.lm_examples import build_examples, stop_token_ids
from edgekd.errors import DataError
from edgekd.models.causal_lm import load_causal_lm
from edgekd.teacher import lm_targets as T


def _examples(tok, records, topks=None):
    ids = None if topks is None else (lambda r: topks[r["id"]].sampled.tolist())
    ex, _, _ = build_examples(tok, records, 64, stop_token_ids(tok), ids)
    return ex


def test_local_teacher_rows_are_its_distribution_cached_and_memory_mapped(
    lm_teacher, lm_dataset, tmp_path
):
    model, tok, _ = load_causal_lm(lm_teacher)
    records = read_dataset(lm_dataset, "train")[:6]
    examples = _examples(tok, records)
    calls = []
    cache = Cache(tmp_path / "cache", record=calls.append)
    rows, hit = T.from_teacher(model, "t@1", examples, 4, tok.pad_token_id, cache)
    again, hit2 = T.from_teacher(model, "t@1", examples, 4, tok.pad_token_id, cache)
    assert (hit, hit2) == (False, True) and [c["hit"] for c in calls] == [False, True]
    assert isinstance(again.ids.base, np.memmap) or isinstance(again.ids, np.memmap)
    ex = examples[2]
    pos = np.flatnonzero(ex.learn)
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.as_tensor(ex.input_ids)[None]).logits[0], -1)
    ids, lps, tail = again.rows(2)
    assert len(ids) == len(pos)
    ref_lp, ref_ids = logp[pos - 1].topk(4, -1)
    assert np.array_equal(np.asarray(ids), ref_ids.numpy())
    assert np.allclose(np.asarray(lps), ref_lp.numpy(), atol=1e-5)
    mass = np.exp(np.asarray(lps, np.float64)).sum(-1) + np.exp(np.asarray(tail, np.float64))
    assert np.allclose(mass, 1.0, atol=1e-5)
    other, hit3 = T.from_teacher(model, "t@1", examples, 3, tok.pad_token_id, cache)
    assert not hit3 and other.k == 3  # k is part of the key


def test_dataset_rows_align_with_the_teachers_own_tokens(lm_dataset, lm_teacher):
    _, tok, _ = load_causal_lm(lm_teacher)
    records = read_dataset(lm_dataset, "train")[:5]
    topks = T.dataset_topk(records, None, "d")
    examples = _examples(tok, records, topks)
    rows = T.from_dataset(examples, topks)
    for i, ex in enumerate(examples):
        tk = topks[ex.record_id]
        ids, lps, tail = rows.rows(i)
        answer = ex.input_ids[ex.answer[0] : ex.answer[1]]
        assert answer.tolist() == tk.sampled[: len(answer)].tolist()
        assert np.array_equal(ids, tk.top[: len(answer)])
    fewer = T.from_dataset(examples, topks, k=2)
    ids2, lps2, tail2 = fewer.rows(0)
    ids5, lps5, tail5 = rows.rows(0)
    assert ids2.shape[1] == 2
    total = np.logaddexp(tail5, np.logaddexp.reduce(lps5[:, 2:], axis=-1))
    assert np.allclose(tail2, total, atol=1e-5)


def test_a_record_without_logprobs_is_named(lm_dataset):
    records = read_dataset(lm_dataset, "train")[:3]
    records[1] = {k: v for k, v in records[1].items() if k != "logprobs"}
    with pytest.raises(DataError, match=r"d: record 1 \(.*\) has no top_logprobs"):
        T.dataset_topk(records, None, "d")


def test_endpoint_token_strings_map_onto_the_tokenizer(lm_teacher):
    _, tok, _ = load_causal_lm(lm_teacher)
    strings = T.string_vocab(tok)
    content = [
        {
            "token": "he",
            "logprob": -0.1,
            "top_logprobs": [
                {"token": "he", "logprob": -0.1},
                {"token": " you", "logprob": -2.5},
            ],
        },
        {
            "token": " you",
            "logprob": -0.3,
            "top_logprobs": [
                {"token": " you", "logprob": -0.3},
                {"token": "he", "logprob": -9999},
            ],
        },
    ]
    tk = T.topk_ids(lp.from_openai(content), strings, "r")
    assert tk.tokens == "ids"
    assert tok.decode(tk.sampled.tolist()) == "he you"
    assert tk.top_logprob[1, 1] == -math.inf
    bad = [{"token": "zzzq", "logprob": -0.1, "top_logprobs": [{"token": "zzzq", "logprob": -0.1}]}]
    with pytest.raises(
        DataError, match="the teacher's token 'zzzq' is not one token of the student's tokenizer"
    ):
        T.topk_ids(lp.from_openai(bad), strings, "r")


def test_tokens_a_trimmed_student_lacks_join_the_tail():
    old_to_new = np.array([0, -1, 1, 2, -1])
    ids = np.array([[1, 2, 4], [0, 3, 2]])
    lps = np.log(np.array([[0.5, 0.2, 0.1], [0.6, 0.2, 0.1]], np.float32))
    tail = np.log(np.array([0.2, 0.1], np.float32))
    new_ids, new_lps, new_tail = T.to_student_vocab(ids, lps, tail, old_to_new)
    assert new_ids[0, 1] == 1 and new_ids[1].tolist() == [0, 2, 1]
    assert np.isneginf(new_lps[0, 0]) and np.isneginf(new_lps[0, 2])
    assert np.allclose(np.exp(new_tail), [0.2 + 0.5 + 0.1, 0.1], atol=1e-6)
