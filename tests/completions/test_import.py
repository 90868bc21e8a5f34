"""`completions import`: three formats, filters, dedupe, stable splits, and every bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import edgekd
from edgekd.completions import logprobs as lp
from tests.completions.conftest import lines, write_jsonl
from tests.completions.fake_openai import stored_completion
from tests.conftest import run_cli


def _ft(i: int, **kw) -> dict:
    return {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": f"q{i}"},
            {"role": "assistant", "content": f"a{i}", **kw},
        ],
        "metadata": {"topic": "math" if i % 2 else "art", "env": "prod"},
    }


def test_three_formats_one_dataset(tmp_path: Path) -> None:
    ft = write_jsonl(tmp_path / "ft.jsonl", [_ft(i) for i in range(6)])
    cc = write_jsonl(
        tmp_path / "cc.jsonl",
        [stored_completion(i, f"stored {i}", {"topic": "math"}) for i in range(6)],
    )
    out1 = tmp_path / "d1.jsonl"
    s = edgekd.import_completions([ft, cc], out1)
    assert s["kept"] == 12 and s["with_logprobs"] == 6
    # edgekd's own records (format c) import to themselves
    out2 = tmp_path / "d2.jsonl"
    edgekd.import_completions(out1, out2)
    assert lines(out1) == lines(out2)
    recs = {r["messages"][-2]["content"]: r for r in lines(out1)}
    tk = lp.decode(recs["stored 3"]["logprobs"])
    assert tk.token_strings() == recs["stored 3"]["messages"][-1]["content"].split(" ")
    assert recs["stored 3"]["source_id"] == "chatcmpl-stored-3"
    assert recs["stored 3"]["created"] == 1_700_000_000 + 3 * 86_400
    assert recs["q1"]["metadata"] == {"topic": "math", "env": "prod"}


def test_weight_zero_turns_survive(tmp_path: Path) -> None:
    rows = [_ft(i) for i in range(10)]
    rows[0]["messages"].insert(2, {"role": "assistant", "content": "old", "weight": 0})
    rows[0]["messages"].insert(3, {"role": "user", "content": "again"})
    out = tmp_path / "d.jsonl"
    edgekd.import_completions(write_jsonl(tmp_path / "ft.jsonl", rows), out)
    from edgekd.completions.dataset import training_turns

    r = next(r for r in lines(out) if len(r["messages"]) == 5)
    assert [learn for _, learn in training_turns(r)] == [False, False, False, False, True]


def test_filters_are_counted_by_reason(tmp_path: Path) -> None:
    rows = [stored_completion(i, f"p{i}", {"topic": "math", "tier": str(i % 3)}) for i in range(20)]
    rows.append(stored_completion(20, "p20", {"topic": "math", "tier": "0"}, content=""))
    rows.append(
        stored_completion(
            21,
            "p21",
            {"topic": "math", "tier": "0"},
            content="I'm sorry, but I can't help with that.",
        )
    )
    rows.append(stored_completion(22, "p22", {"topic": "math", "tier": "1"}, refusal="no"))
    rows.append(
        stored_completion(23, "p23", {"topic": "math", "tier": "1"}, finish_reason="length")
    )
    rows.append(stored_completion(24, "p0", {"topic": "math", "tier": "0"}))  # duplicate of p0
    rows.append(stored_completion(25, "p25", {"topic": "art", "tier": "0"}))
    f = write_jsonl(tmp_path / "cc.jsonl", rows)
    out = tmp_path / "d.jsonl"
    s = edgekd.import_completions(f, out, where=["topic=math", "tier=0,1"])
    assert s["removed"]["where topic"] == 1 and s["removed"]["where tier"] == 6
    assert s["removed"]["empty answer"] == 1 and s["removed"]["refused"] == 2
    assert s["removed"]["finish_reason=length"] == 1 and s["removed"]["duplicate"] == 1
    assert s["kept"] == 14 and s["read"] == 26
    s = edgekd.import_completions(f, out, where=["topic=math", "tier=0,1"], keep_truncated=True)
    assert s["kept"] == 15
    s = edgekd.import_completions(f, out, since="2023-11-25")
    assert s["removed"]["before --since"] > 0
    assert all(r["created"] >= 1_700_870_400 for r in lines(out))


def test_splits_are_stable_when_records_are_added(tmp_path: Path) -> None:
    few = write_jsonl(tmp_path / "a.jsonl", [_ft(i) for i in range(40)])
    more = write_jsonl(tmp_path / "b.jsonl", [_ft(i) for i in range(40, 400)])
    edgekd.import_completions(few, tmp_path / "d1.jsonl")
    edgekd.import_completions([few, more], tmp_path / "d2.jsonl")
    before = {r["id"]: r["split"] for r in lines(tmp_path / "d1.jsonl")}
    after = {r["id"]: r["split"] for r in lines(tmp_path / "d2.jsonl")}
    assert all(after[k] == v for k, v in before.items())
    shares = np.array([list(after.values()).count(s) for s in ("train", "val", "test")]) / 400
    assert abs(shares[0] - 0.8) < 0.08 and shares[1] > 0.04 and shares[2] > 0.04


def _import(*args: str) -> tuple[int, str]:
    return run_cli(["completions", "import", *args])


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text(json.dumps(_ft(0)) + "\n\n" + '{"messages": [\n')
    code, text = _import(str(f), "--out", str(tmp_path / "d.jsonl"))
    assert code == 2 and "bad.jsonl:3: malformed JSON" in text
    assert "Traceback" not in text


def test_record_without_messages(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "x.jsonl", [_ft(0), {"prompt": "q", "completion": "a"}])
    code, text = _import(str(f), "--out", str(tmp_path / "d.jsonl"))
    assert code == 2 and "x.jsonl:2: messages: missing" in text


def test_completion_without_input_messages(tmp_path: Path) -> None:
    row = stored_completion(0, "p", {})
    row.pop("input_messages")
    f = write_jsonl(tmp_path / "cc.jsonl", [row])
    code, text = _import(str(f), "--out", str(tmp_path / "d.jsonl"))
    assert code == 2 and "cc.jsonl:1: messages: missing" in text and "input_messages" in text


def test_assistant_turn_missing(tmp_path: Path) -> None:
    row = {"messages": [{"role": "user", "content": "only a question"}]}
    f = write_jsonl(tmp_path / "x.jsonl", [_ft(0), _ft(1), row])
    code, text = _import(str(f), "--out", str(tmp_path / "d.jsonl"))
    assert code == 2 and "x.jsonl:3: messages: no assistant turn" in text


def test_where_key_no_record_has(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "x.jsonl", [_ft(i) for i in range(12)])
    code, text = _import(str(f), "--out", str(tmp_path / "d.jsonl"), "--where", "topc=math")
    assert code == 2
    assert "no record has metadata key 'topc'; keys: env, topic" in text


def test_fewer_than_ten_usable_records(tmp_path: Path) -> None:
    rows = [_ft(i) for i in range(12)]
    f = write_jsonl(tmp_path / "x.jsonl", rows)
    out = tmp_path / "d.jsonl"
    code, text = _import(str(f), "--out", str(out), "--where", "topic=math")
    assert code == 2
    assert "6 usable record(s) after filtering, need at least 10" in text
    assert "read 12" in text and "6 where topic" in text
    assert not out.exists()  # nothing half-written


def test_bad_weight_and_since(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "w.jsonl", [_ft(0, weight=2)])
    code, text = _import(str(f), "--out", str(tmp_path / "d.jsonl"))
    assert code == 2 and "w.jsonl:1: messages[2].weight: expected 0 or 1" in text
    f = write_jsonl(tmp_path / "ok.jsonl", [_ft(i) for i in range(12)])
    code, text = _import(str(f), "--out", str(tmp_path / "d.jsonl"), "--since", "yesterday")
    assert code == 2 and "--since 'yesterday': expected a date" in text


def test_cli_import_prints_counts(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "x.jsonl", [_ft(i) for i in range(12)] + [_ft(0)])
    code, text = _import(str(f), "--out", str(tmp_path / "d.jsonl"))
    assert code == 0, text
    assert "12 records of 13 read" in text and "1 duplicate" in text


def test_refusal_openers() -> None:
    from edgekd.completions.filters import is_refusal

    def r(text: str) -> dict:
        return {
            "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": text}]
        }

    assert is_refusal(r("I'm sorry, but I can't help with that."))
    assert is_refusal(
        r("I'm sorry for any confusion, but as a chatbot, I don't have the ability to eat.")
    )
    assert is_refusal(r("I cannot assist with this request."))
    assert not is_refusal(r("I'm sorry to hear that. But you can try restarting it."))
    assert not is_refusal(r("Paris is the capital of France; I can't wait to visit."))
