"""Labels parsed from answers, and soft targets from the label tokens' log-probs."""

from __future__ import annotations

import numpy as np
import pytest

from edgekd.completions import logprobs as lp
from edgekd.completions.labels import parse_label, soft_target

LABELS = ["positive", "negative", "neutral"]


@pytest.mark.parametrize(
    ("answer", "label"),
    [
        ("Positive", "positive"),
        ("negative.", "negative"),
        ("Neutral - the review is balanced", "neutral"),
        ("The sentiment is clearly negative.", "negative"),
        ("positive or negative, hard to say", None),
        ("I don't know", None),
        ("not spam", "not spam"),
        ("This is not spam at all", "not spam"),
    ],
)
def test_parse_label(answer: str, label: str | None) -> None:
    assert parse_label(answer, [*LABELS, "spam", "not spam"]) == label


def test_soft_target_from_token_strings() -> None:
    content = [
        {"token": " ", "logprob": -0.01, "top_logprobs": [{"token": " ", "logprob": -0.01}]},
        {
            "token": "Pos",
            "logprob": np.log(0.6),
            "top_logprobs": [
                {"token": "Pos", "logprob": np.log(0.6)},
                {"token": " negative", "logprob": np.log(0.2)},
                {"token": "ne", "logprob": np.log(0.1)},  # prefix of two labels: not counted
                {"token": "maybe", "logprob": np.log(0.05)},
            ],
        },
        {
            "token": "itive",
            "logprob": -0.01,
            "top_logprobs": [{"token": "itive", "logprob": -0.01}],
        },
    ]
    st = soft_target(lp.decode(lp.encode(lp.from_openai(content))), LABELS)
    assert st is not None and st.position == 1
    assert st.covered == pytest.approx(0.8, abs=2e-3)
    assert st.probs["positive"] == pytest.approx(0.75, abs=2e-3)
    assert st.probs["negative"] == pytest.approx(0.25, abs=2e-3)
    assert st.probs["neutral"] == 0.0


def test_soft_target_from_ids_needs_the_tokenizer() -> None:
    vocab = ["yes", "no", "x"]
    logits = np.log(np.array([[0.7, 0.2, 0.1]], np.float32))
    tk = lp.from_logits(logits, np.array([0]), 3)
    with pytest.raises(ValueError, match="tokenizer"):
        soft_target(tk, ["yes", "no"])
    st = soft_target(tk, ["yes", "no"], decode=lambda i: vocab[i])
    assert st is not None and st.probs["yes"] == pytest.approx(0.7 / 0.9, abs=1e-3)


def test_labelled_texts_from_a_dataset(tmp_path) -> None:
    import edgekd
    from edgekd.completions.dataset import labelled_texts
    from tests.completions.conftest import write_jsonl
    from tests.completions.fake_openai import stored_completion

    rows = [stored_completion(i, f"review {i}", {}, content="positive") for i in range(12)]
    out = tmp_path / "d.jsonl"
    edgekd.import_completions(write_jsonl(tmp_path / "cc.jsonl", rows), out)
    items = labelled_texts(edgekd.read_completions(out), LABELS)
    assert len(items) == 12 and all(x.label == "positive" for x in items)
    assert {x.text for x in items} == {f"review {i}" for i in range(12)}
    assert all(x.soft is not None and x.soft["positive"] == 1.0 for x in items)
