"""A real `edgekd completions generate` process killed with SIGKILL mid-run, then --resume:
the server's counts prove no prompt was paid for twice and every prompt got its answer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.completions.conftest import lines
from tests.completions.fake_openai import answer_for
from tests.conftest import run_cli

PROMPTS = [f"prompt {i} about something" for i in range(20)]
BEFORE_KILL = 6


def _wait(cond, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def _checkpointed(manifest: Path) -> int | None:
    """The generated count the running process last checkpointed (None before the first):
    killing it before that checkpoint lands would lose the count, not an answer."""
    try:
        return json.loads(manifest.read_text())["runs"][-1]["generated"]
    except (OSError, ValueError, KeyError, IndexError):
        return None


def test_sigkill_then_resume_pays_each_prompt_once(fake, tmp_path: Path, monkeypatch) -> None:
    pfile = tmp_path / "prompts.txt"
    pfile.write_text("\n".join(PROMPTS) + "\n")
    out = tmp_path / "out.jsonl"
    args = [
        "completions",
        "generate",
        "--teacher",
        "openai:fake",
        "--base-url",
        fake.base_url,
        "--prompts",
        str(pfile),
        "--out",
        str(out),
        "--top-logprobs",
        "2",
        "--concurrency",
        "3",
        "--quiet",
    ]
    fake.hold_after(BEFORE_KILL)  # then requests hang (unpaid) until released
    monkeypatch.setattr("edgekd.completions.generate.CHECKPOINT_S", 0.0)
    env = {**os.environ, "EDGEKD_BACKOFF_BASE_S": "0.01", "EDGEKD_CHECKPOINT_S": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgekd.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        # every paid answer is on disk and the next requests are in flight
        _wait(lambda: out.exists() and len(out.read_text().splitlines()) == BEFORE_KILL)
        _wait(lambda: fake.held >= 1)
        _wait(lambda: _checkpointed(tmp_path / "out.jsonl.manifest.json") == BEFORE_KILL)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    fake.release()
    assert fake.total_paid() == BEFORE_KILL
    manifest = (tmp_path / "out.jsonl.manifest.json").read_text()
    assert '"status": "incomplete"' in manifest

    code, text = run_cli([*args, "--resume"])
    assert code == 0, text
    assert f"{BEFORE_KILL} already there" in text
    recs = lines(out)
    assert sorted(r["messages"][0]["content"] for r in recs) == sorted(PROMPTS)
    assert all(r["status"] == "ok" for r in recs)
    assert all(
        r["messages"][-1]["content"] == answer_for(r["messages"][0]["content"]) for r in recs
    )
    assert {p: fake.paid[p] for p in PROMPTS} == dict.fromkeys(PROMPTS, 1)
    manifest = json.loads((tmp_path / "out.jsonl.manifest.json").read_text())
    assert manifest["status"] == "complete"
    # the killed run's checkpointed counts and the resumed run's add up to every prompt
    assert [r["generated"] for r in manifest["runs"]] == [BEFORE_KILL, len(PROMPTS) - BEFORE_KILL]
    assert manifest["generated"] == len(PROMPTS)


def test_torn_last_line_is_cut_on_resume(fake, tmp_path: Path) -> None:
    pfile = tmp_path / "prompts.txt"
    pfile.write_text("\n".join(PROMPTS[:4]) + "\n")
    out = tmp_path / "out.jsonl"
    args = [
        "completions",
        "generate",
        "--teacher",
        "openai:fake",
        "--base-url",
        fake.base_url,
        "--prompts",
        str(pfile),
        "--out",
        str(out),
    ]
    code, text = run_cli([*args, "--quiet"])
    assert code == 0, text
    whole = out.read_text().splitlines(keepends=True)
    out.write_text("".join(whole[:3]) + whole[3][: len(whole[3]) // 2])  # a crash mid-write
    code, text = run_cli([*args, "--resume"])
    assert code == 0, text
    assert "cut a torn last line" in " ".join(text.split())
    assert len(lines(out)) == 4
    assert sum(fake.paid.values()) == 5  # only the torn record was generated again
