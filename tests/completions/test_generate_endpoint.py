"""`completions generate` against a real HTTP server: faults, retries, exactly-once, the key."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekd.completions import logprobs as lp
from tests.completions.conftest import lines
from tests.completions.fake_openai import KEY, SLOW_S, answer_for
from tests.conftest import run_cli

FAULTS = ["[429] rate me", "[500] fail once", "[timeout] slow one", "[malformed] bad body"]
PLAIN = [f"question number {i}" for i in range(8)]


def _generate(fake, tmp_path: Path, prompts: list[str], *extra: str) -> tuple[int, str, Path]:
    pfile = tmp_path / "prompts.txt"
    pfile.write_text("\n".join(prompts) + "\n")
    out = tmp_path / "out.jsonl"
    code, text = run_cli(
        [
            "completions",
            "generate",
            "--teacher",
            "openai:fake-model",
            "--base-url",
            fake.base_url,
            "--prompts",
            str(pfile),
            "--out",
            str(out),
            "--top-logprobs",
            "3",
            "--concurrency",
            "3",
            "--timeout",
            str(SLOW_S / 3),
            "--max-retries",
            "3",
            "--metadata",
            "source=test",
            "--quiet",
            *extra,
        ]
    )
    return code, text, out


def test_every_prompt_answered_once_despite_faults(fake, tmp_path: Path) -> None:
    prompts = PLAIN + FAULTS + ["[always500] never works"]
    code, text, out = _generate(fake, tmp_path, prompts)
    assert code == 0, text
    recs = lines(out)
    ok = {r["messages"][0]["content"]: r for r in recs if r["status"] == "ok"}
    failed = [r for r in recs if r["status"] == "failed"]
    assert len(recs) == len(prompts)  # one record per prompt, none dropped
    assert set(ok) == set(prompts) - {"[always500] never works"}
    assert [r["messages"][0]["content"] for r in failed] == ["[always500] never works"]
    assert failed[0]["error"].startswith("http 500") and "4 attempts" in failed[0]["error"]
    for prompt, r in ok.items():
        assert r["messages"][-1] == {"role": "assistant", "content": answer_for(prompt)}
        assert r["metadata"] == {"source": "test"}
        assert fake.paid[prompt] == 1  # paid exactly once
        tk = lp.decode(r["logprobs"])
        assert tk.tokens == "strings" and tk.k == 3
        assert tk.token_strings() == answer_for(prompt).split(" ")
        # the tail bucket holds exactly the mass the top k leave
        mass = np.exp(tk.top_logprob.astype(np.float64)).sum(1) + np.exp(tk.tail_logprob)
        np.testing.assert_allclose(mass, 1.0, atol=2e-3)
    for p in FAULTS:
        assert fake.requests[p] == 2  # one fault, one retry
    assert fake.requests["[always500] never works"] == 4
    assert "1 failed" in text and f"{len(prompts) - 1} answered" in text


def test_retry_after_is_honored(fake, tmp_path: Path) -> None:
    code, text, _ = _generate(fake, tmp_path, ["[429] wait for it"])
    assert code == 0, text
    first, second = fake.times["[429] wait for it"]
    assert second - first >= 0.9  # the server said Retry-After: 1; backoff base is 10 ms


def test_rerun_needs_resume_and_pays_nothing_twice(fake, tmp_path: Path) -> None:
    code, text, out = _generate(fake, tmp_path, PLAIN)
    assert code == 0, text
    code, text, _ = _generate(fake, tmp_path, PLAIN)
    assert code == 2 and "--resume" in text
    code, text, _ = _generate(fake, tmp_path, [*PLAIN, "one more"], "--resume")
    assert code == 0, text
    assert "8 already there" in text
    assert len(lines(out)) == 9
    assert all(n == 1 for n in fake.paid.values()) and fake.total_paid() == 9


def test_retry_failed_supersedes_the_failure(fake, tmp_path: Path) -> None:
    code, _, out = _generate(fake, tmp_path, ["[always500] x", "fine"])
    assert code == 0
    code, _, _ = _generate(fake, tmp_path, ["[always500] x", "fine"], "--resume")
    assert fake.requests["[always500] x"] == 4  # failed prompts are not retried by default
    code, _, _ = _generate(fake, tmp_path, ["[always500] x", "fine"], "--resume", "--retry-failed")
    assert fake.requests["[always500] x"] == 8 and fake.paid["fine"] == 1
    code, text = run_cli(["completions", "stats", str(out), "--json"])
    assert '"failed": 1' in text and '"records": 1' in text


def test_api_key_never_written_or_printed(fake, tmp_path: Path) -> None:
    code, text, out = _generate(fake, tmp_path, ["[echo-auth] leak it", "[always500] no"])
    assert code == 0, text
    assert any(KEY in h for h in fake.auth_headers)  # the server did get it
    for f in tmp_path.iterdir():
        assert KEY not in f.read_text(), f
    assert KEY not in text
    failed = [r for r in lines(out) if r["status"] == "failed"]
    assert {r["messages"][0]["content"] for r in failed} == {
        "[echo-auth] leak it",
        "[always500] no",
    }
    assert any("Bearer [redacted]" in r["error"] for r in failed)


def test_authentication_failure_exits_2_and_leaves_nothing(
    fake, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    code, text, out = _generate(fake, tmp_path, PLAIN)
    assert code == 2
    assert "authentication failed (HTTP 401)" in text and "OPENAI_API_KEY" in text
    assert "sk-wrong" not in text
    assert not out.exists()  # nothing half-written looks whole


def test_missing_key_variable_is_named(fake, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    code, text, _ = _generate(fake, tmp_path, PLAIN, "--api-key-env", "MY_TEACHER_KEY")
    assert code == 2 and "MY_TEACHER_KEY is not set" in text


def test_base_url_must_be_http(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    (tmp_path / "p.txt").write_text("hi\n")
    code, text = run_cli(
        [
            "completions",
            "generate",
            "--teacher",
            "openai:m",
            "--base-url",
            "ftp://x/v1",
            "--prompts",
            str(tmp_path / "p.txt"),
            "--out",
            str(tmp_path / "o.jsonl"),
        ]
    )
    assert code == 2 and "--base-url 'ftp://x/v1': expected an http:// or https:// URL" in text


def test_azure_form(fake, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AZURE_KEY", KEY)
    pfile = tmp_path / "p.txt"
    pfile.write_text("hello azure\n")
    out = tmp_path / "azure.jsonl"
    code, text = run_cli(
        [
            "completions",
            "generate",
            "--teacher",
            "openai:my-deployment",
            "--base-url",
            fake.server.url_for("/"),
            "--api-version",
            "2024-10-21",
            "--api-key-env",
            "AZURE_KEY",
            "--prompts",
            str(pfile),
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0, text
    req, _ = fake.server.log[-1]
    assert req.path == "/openai/deployments/my-deployment/chat/completions"
    assert req.args["api-version"] == "2024-10-21" and req.headers["api-key"] == KEY
    assert lines(out)[0]["messages"][-1]["content"] == answer_for("hello azure")


def test_prompt_file_without_prompts(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    (tmp_path / "empty.txt").write_text("\n  \n")
    code, text = run_cli(
        [
            "completions",
            "generate",
            "--teacher",
            "openai:m",
            "--prompts",
            str(tmp_path / "empty.txt"),
            "--out",
            str(tmp_path / "o.jsonl"),
        ]
    )
    assert code == 2 and "empty.txt: no prompts" in text


def test_prompt_jsonl_errors_name_line_and_field(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    p = tmp_path / "p.jsonl"
    p.write_text('{"messages": [{"role": "user", "content": "a"}]}\n{"text": "no messages"}\n')
    code, text = run_cli(
        [
            "completions",
            "generate",
            "--teacher",
            "openai:m",
            "--prompts",
            str(p),
            "--out",
            str(tmp_path / "o.jsonl"),
        ]
    )
    assert code == 2 and "p.jsonl:2: messages: missing" in text
    p.write_text('{"messages": [{"role": "user", "content": "a"}]}\n\n{"messages": [\n')
    code, text = run_cli(
        [
            "completions",
            "generate",
            "--teacher",
            "openai:m",
            "--prompts",
            str(p),
            "--out",
            str(tmp_path / "o.jsonl"),
        ]
    )
    assert code == 2 and "p.jsonl:3: malformed JSON" in text
