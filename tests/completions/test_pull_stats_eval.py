"""`completions pull` from a real list endpoint, `stats`, and `eval` with graders as data."""

from __future__ import annotations

import json
from pathlib import Path

import edgekd
from tests.completions.conftest import lines, write_jsonl
from tests.completions.fake_openai import KEY, stored_completion
from tests.conftest import run_cli


def _store(fake, n: int = 250) -> None:
    fake.stored = [
        stored_completion(
            i, f"stored prompt {i}", {"app": "chat" if i % 5 else "search", "tier": str(i % 2)}
        )
        for i in range(n)
    ]


def test_pull_pages_and_fetches_messages(fake, tmp_path: Path) -> None:
    _store(fake)
    out = tmp_path / "pulled.jsonl"
    code, text = run_cli(
        [
            "completions",
            "pull",
            "--endpoint",
            fake.base_url,
            "--out",
            str(out),
            "--where",
            "app=chat",
            "--where",
            "tier=0,1",
            "--quiet",
        ]
    )
    assert code == 0, text
    recs = lines(out)
    assert len(recs) == 200  # 250 stored, 50 are app=search
    assert all(r["metadata"]["app"] == "chat" for r in recs)
    assert all(r["messages"][0]["content"].startswith("stored prompt") for r in recs)
    list_calls = [
        q for q, _ in fake.server.log if q.method == "GET" and q.path == "/v1/chat/completions"
    ]
    assert len(list_calls) == 2  # 200 matches, 100 per page
    assert list_calls[0].args["metadata[app]"] == "chat"  # single-valued filters go to the server
    assert "after" in list_calls[1].args
    pulled = tmp_path / "pulled.jsonl.pulled.jsonl"
    assert len(lines(pulled)) == 200
    assert KEY not in pulled.read_text() and KEY not in out.read_text()


def test_pull_auth_failure_exits_2(fake, tmp_path: Path, monkeypatch) -> None:
    _store(fake, 3)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-nope")
    out = tmp_path / "d.jsonl"
    code, text = run_cli(["completions", "pull", "--endpoint", fake.base_url, "--out", str(out)])
    assert code == 2 and "HTTP 401" in text and "sk-nope" not in text
    assert not out.exists() and not (tmp_path / "d.jsonl.pulled.jsonl").exists()


def test_pull_rejects_non_http_endpoint(tmp_path: Path) -> None:
    code, text = run_cli(
        ["completions", "pull", "--endpoint", "file:///etc", "--out", str(tmp_path / "d.jsonl")]
    )
    assert code == 2 and "expected an http:// or https:// URL" in text


def _dataset(tmp_path: Path) -> Path:
    rows = [
        stored_completion(
            i,
            f"is item {i} good or bad",
            {"kind": "review"},
            content=("Good, clearly." if i % 3 else "bad"),
        )
        for i in range(30)
    ]
    out = tmp_path / "d.jsonl"
    edgekd.import_completions(write_jsonl(tmp_path / "cc.jsonl", rows), out)
    return out


def test_stats_counts_lengths_and_coverage(tmp_path: Path) -> None:
    d = _dataset(tmp_path)
    s = edgekd.completions_stats(d)
    assert s["records"] == 30 and s["logprob_coverage"] == 1.0 and s["top_k"] == {3: 30}
    assert s["metadata"] == {"kind": {"review": 30}}
    assert s["answer_tokens"]["count"] == 30 and s["answer_tokens"]["max"] == 2
    assert sum(s["splits"].values()) == 30
    code, text = run_cli(["completions", "stats", str(d)])
    assert code == 0 and "log-prob coverage" in text and "100.0%" in text


def test_eval_with_answers_file_and_labels(tmp_path: Path) -> None:
    d = _dataset(tmp_path)
    teacher = lines(d)
    student = [
        {
            "messages": [
                *r["messages"][:-1],
                {"role": "assistant", "content": "good" if i % 2 else "bad"},
            ]
        }
        for i, r in enumerate(teacher)
    ]
    sfile = write_jsonl(tmp_path / "student.jsonl", student)
    code, text = run_cli(
        [
            "completions",
            "eval",
            "--student",
            str(sfile),
            "--dataset",
            str(d),
            "--split",
            "train",
            "--grader",
            "label_agreement",
            "--grader",
            "rouge_l",
            "--grader",
            "exact_match",
            "--labels",
            "good,bad",
            "--out",
            str(tmp_path / "ev"),
        ]
    )
    assert code == 0, text
    result = json.loads((tmp_path / "ev" / "eval.json").read_text())
    train = [r for r in teacher if r["split"] == "train"]
    assert result["pairs"] == len(train)
    # label agreement counted by hand from the answers
    by_prompt = {json.dumps(s["messages"][:-1]): s["messages"][-1]["content"] for s in student}
    agree = [
        ("good" if "good" in r["messages"][-1]["content"].lower() else "bad")
        == by_prompt[json.dumps(r["messages"][:-1])]
        for r in train
    ]
    assert abs(result["graders"]["label_agreement"]["mean"] - sum(agree) / len(agree)) < 1e-4
    assert (
        "| label_agreement |" in text and "kind=review" in (tmp_path / "ev" / "eval.md").read_text()
    )


def test_llm_grader_through_the_same_client(fake, tmp_path: Path) -> None:
    d = _dataset(tmp_path)
    recs = lines(d)
    student = [
        {"messages": [*r["messages"][:-1], {"role": "assistant", "content": "?"}]}
        if i % 4 == 0
        else {"messages": r["messages"]}
        for i, r in enumerate(recs)
    ]
    sfile = write_jsonl(tmp_path / "s.jsonl", student)
    # the fake judge gives 5 to an answer equal to the reference and 2 otherwise
    r = edgekd.eval_completions(
        str(sfile),
        d,
        tmp_path / "ev",
        split="train",
        graders=["llm", "exact_match"],
        judge="openai:judge",
        base_url=fake.base_url,
    )
    assert r["graders"]["llm"]["scored"] == r["pairs"] > 0
    for row in r["rows"]:
        assert row["llm"] == (5.0 if row["exact_match"] == 1.0 else 2.0)
    assert {row["llm"] for row in r["rows"]} == {2.0, 5.0}


def test_eval_bad_usage(tmp_path: Path) -> None:
    d = _dataset(tmp_path)
    code, text = run_cli(
        ["completions", "eval", "--student", str(tmp_path / "nope.jsonl"), "--dataset", str(d)]
    )
    assert code == 2 and "expected hf:PATH, openai:MODEL or a JSONL of answers" in text
    code, text = run_cli(
        ["completions", "eval", "--student", str(d), "--dataset", str(d), "--grader", "bleu"]
    )
    assert code == 2 and "--grader 'bleu'" in text
    code, text = run_cli(
        ["completions", "eval", "--student", str(d), "--dataset", str(d), "--grader", "llm"]
    )
    assert code == 2 and "--judge" in text
