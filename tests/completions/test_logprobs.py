"""Compact top-k storage: round trips, OpenAI's -9999 placeholder, exact tails from logits."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgekd.completions import logprobs as lp


def test_from_logits_round_trip_and_tail() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(7, 70_000)).astype(np.float32) * 3  # ids above 65535: u4
    sampled = logits.argmax(1)
    tk = lp.from_logits(logits, sampled, 20)
    d = json.loads(json.dumps(lp.encode(tk)))
    assert d["index_dtype"] == "u4"
    back = lp.decode(d)
    assert back.top.tolist() == tk.top.tolist() and back.sampled.tolist() == sampled.tolist()
    np.testing.assert_allclose(back.top_logprob, tk.top_logprob, atol=2e-2, rtol=1e-3)
    logp = logits - np.log(np.exp(logits.astype(np.float64)).sum(1, keepdims=True))
    exact_tail = np.log(1 - np.exp(np.sort(logp, 1)[:, -20:]).sum(1))
    np.testing.assert_allclose(back.tail_logprob, exact_tail, atol=1e-2)
    assert np.all(back.top[:, 0] == sampled)


def test_openai_placeholder_means_outside_top_k() -> None:
    content = [
        {
            "token": "Hi",
            "logprob": -0.01,
            "top_logprobs": [
                {"token": "Hi", "logprob": -0.01},
                {"token": "Hey", "logprob": -9999.0},
            ],
        },
        {"token": "!", "logprob": -0.5, "top_logprobs": [{"token": "!", "logprob": -0.5}]},
    ]
    tk = lp.decode(lp.encode(lp.from_openai(content)))
    assert tk.tokens == "strings" and tk.k == 2 and tk.token_strings() == ["Hi", "!"]
    assert np.isneginf(tk.top_logprob[0, 1]) and np.isneginf(tk.top_logprob[1, 1])  # padded
    assert tk.vocab[tk.top[0, 1]] == "Hey"
    assert tk.tail_logprob[1] == pytest.approx(np.log(1 - np.exp(-0.5)), abs=1e-3)


def test_small_ids_use_two_bytes_and_decode_rejects_damage() -> None:
    tk = lp.from_logits(np.zeros((3, 10), np.float32), np.array([1, 2, 3]), 4)
    d = lp.encode(tk)
    assert d["index_dtype"] == "u2"
    with pytest.raises(ValueError, match="logprobs.format"):
        lp.decode({**d, "format": "other"})
    with pytest.raises(ValueError, match="expected 4 values, found 3"):
        lp.decode({**d, "n": 4})  # a record whose arrays were cut
    with pytest.raises(ValueError, match="logprobs.top"):
        lp.decode({k: v for k, v in d.items() if k != "top"})
