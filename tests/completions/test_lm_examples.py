"""Completions records as token sequences: what is learned, where the answer starts, stops."""

import numpy as np
import pytest

from edgekd.completions.lm_examples import BuildInfo, build_example, build_examples, render_chat
from edgekd.data.rationale import split_rationale, task_records
from edgekd.errors import DataError
from tests.completions.tiny_llm import build_tokenizer


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


def _rec(*turns, finish="stop", **extra):
    msgs = []
    for t in turns:
        role, content, *w = t
        m = {"role": role, "content": content}
        if w:
            m["weight"] = w[0]
        msgs.append(m)
    return {"messages": msgs, "finish_reason": finish, **extra}


def _text(tok, ids):
    return tok.decode(list(ids))


def test_prompt_is_tokenized_like_the_teacher_saw_it_and_only_the_answer_is_learned(tok):
    r = _rec(("user", "hello how are you"), ("assistant", "i am fine"))
    eos = {tok.eos_token_id}
    ex = build_example(tok, r, 64, eos, None, BuildInfo())
    prompt = render_chat(tok, r["messages"][:-1], True)
    expected = tok(prompt, add_special_tokens=False)["input_ids"]
    assert ex.input_ids[: ex.prompt_len].tolist() == expected
    learned = ex.input_ids[ex.learn]
    assert _text(tok, learned) == "i am fine<|im_end|>"  # the answer and the stop token
    assert not ex.learn[: ex.prompt_len].any()
    assert ex.answer == (len(expected), len(ex))


def test_a_truncated_answer_does_not_teach_stopping(tok):
    r = _rec(("user", "tell me a joke"), ("assistant", "robots and computers"), finish="length")
    ex = build_example(tok, r, 64, {tok.eos_token_id}, None, BuildInfo())
    assert tok.eos_token_id not in ex.input_ids[ex.answer[0] :].tolist()
    assert _text(tok, ex.input_ids[ex.learn]) == "robots and computers"


def test_earlier_assistant_turns_are_learned_unless_weight_zero(tok):
    r = _rec(
        ("user", "hello"),
        ("assistant", "hello how are you", 1),
        ("user", "fine"),
        ("assistant", "thank you"),
    )
    ex = build_example(tok, r, 128, {tok.eos_token_id}, None, BuildInfo())
    learned = _text(tok, ex.input_ids[ex.learn])
    assert "hello how are you" in learned and "thank you" in learned
    assert "fine" not in learned.replace("thank you", "")
    r["messages"][1]["weight"] = 0
    ex0 = build_example(tok, r, 128, {tok.eos_token_id}, None, BuildInfo())
    assert _text(tok, ex0.input_ids[ex0.learn]) == "thank you<|im_end|>"
    r["messages"][3]["weight"] = 0
    info = BuildInfo()
    assert build_example(tok, r, 128, {tok.eos_token_id}, None, info) is None
    assert info.skipped_nothing_to_learn == 1


def test_teacher_token_ids_are_used_verbatim_when_given(tok):
    r = _rec(("user", "hello"), ("assistant", "i am fine"))
    ids = [5, 6, 7, tok.eos_token_id]
    ex = build_example(tok, r, 64, {tok.eos_token_id}, ids, BuildInfo())
    assert ex.input_ids[ex.answer[0] : ex.answer[1]].tolist() == ids


def test_long_sequences_are_cut_and_long_prompts_skipped_and_counted(tok):
    long_answer = _rec(("user", "hi"), ("assistant", "hello how are you today " * 10))
    info = BuildInfo()
    ex = build_example(tok, long_answer, 20, {tok.eos_token_id}, None, info)
    assert len(ex) == 20 and info.truncated == 1
    long_prompt = _rec(("user", "hello how are you today " * 10), ("assistant", "ok"))
    assert build_example(tok, long_prompt, 20, {tok.eos_token_id}, None, info) is None
    assert info.skipped_long_prompt == 1
    with pytest.raises(DataError, match="no record has an assistant turn to learn within 20"):
        build_examples(tok, [long_prompt], 20, {tok.eos_token_id}, where="d.jsonl")


def test_examples_keep_the_index_of_their_record(tok):
    records = [
        _rec(("user", "hello how are you today " * 10), ("assistant", "ok")),
        _rec(("user", "hi"), ("assistant", "ok")),
    ]
    examples, index, info = build_examples(tok, records, 24, {tok.eos_token_id})
    assert index == [1] and len(examples) == 1 and info.examples == 1
    assert np.all(examples[0].learn[examples[0].answer[0] :])


def test_rationale_records_become_two_prefixed_tasks():
    r = _rec(("user", "is the sky blue"), ("assistant", "light scatters. So the answer is: yes"))
    assert split_rationale(r, "So the answer is:") == ("light scatters.", "yes")
    assert split_rationale(r, None) is None
    pairs = task_records(r, "So the answer is:", "[label] ", "[rationale] ")
    (ans, t1), (rat, t2) = pairs
    assert (t1, t2) == ("answer", "rationale")
    assert ans["messages"][0]["content"] == "[label] is the sky blue"
    assert ans["messages"][-1]["content"] == "yes"
    assert rat["messages"][0]["content"] == "[rationale] is the sky blue"
    assert rat["messages"][-1]["content"] == "light scatters." and rat["finish_reason"] == "stop"
    assert r["messages"][0]["content"] == "is the sky blue"  # the input is left alone
    field = _rec(("user", "q"), ("assistant", "b"))
    field["messages"][-1]["rationale"] = "because"
    assert split_rationale(field, None) == ("because", "b")
    assert len(task_records(_rec(("user", "q"), ("assistant", "b")), "::", "A ", "R ")) == 1
