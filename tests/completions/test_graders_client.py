"""Grader golden values and the client's retry arithmetic."""

from __future__ import annotations

import email.utils
import time

import pytest

from edgekd.completions import graders as gr
from edgekd.completions.client import backoff_s, retry_after_s


def _rec(answer: str) -> dict:
    return {
        "id": "r",
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": answer}],
    }


def test_rouge_l_golden() -> None:
    ctx = gr.GradeContext()
    # LCS("the cat sat", "the cat sat on the mat") = 3: P = 1, R = 0.5, F = 2/3
    assert gr.rouge_l("the cat sat", _rec("the cat sat on the mat"), ctx) == pytest.approx(2 / 3)
    assert gr.rouge_l("mat the", _rec("the mat"), ctx) == pytest.approx(0.5)
    assert gr.rouge_l("", _rec(""), ctx) == 1.0
    assert gr.lcs_length("ABCBDAB", "BDCABA") == 4  # CLRS's example


def test_exact_and_token_agreement_in_words() -> None:
    ctx = gr.GradeContext()
    assert gr.exact_match("  Paris ", _rec("paris"), ctx) == 1.0
    assert gr.token_agreement("paris is big", _rec("paris is the capital"), ctx) == 0.5
    assert gr.parse_score("Score: 4/5") == 4.0 and gr.parse_score("none") is None


def test_retry_after_forms_and_backoff_floor() -> None:
    assert retry_after_s({"retry-after": "2"}) == 2.0
    assert retry_after_s({"retry-after-ms": "1500"}) == 1.5
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < retry_after_s({"retry-after": when}) <= 30
    assert retry_after_s({}) is None
    for attempt in range(6):
        assert backoff_s(attempt, 3.0, base=0.01) >= 3.0
        assert 0 <= backoff_s(attempt, None, base=0.01) <= 0.01 * 2**attempt
