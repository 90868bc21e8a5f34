"""Fixtures: a real OpenAI-compatible server on 127.0.0.1, an API key, fast backoff."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tests.completions.fake_openai import KEY, FakeOpenAI


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setattr("edgekd.completions.client.BACKOFF_BASE_S", 0.01)
    try:
        yield FakeOpenAI(server)
    finally:
        server.clear()
        server.stop()


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def lines(path: Path) -> list[dict]:
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
