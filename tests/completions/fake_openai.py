"""A real OpenAI-compatible HTTP server on 127.0.0.1 for the tests (pytest-httpserver).

Chat completions are answered deterministically from the prompt, with log-probs. Faults are
injected by markers in the prompt, on the first attempt(s) only unless said otherwise:

``[429]`` 429 with ``Retry-After: 1``; ``[500]`` a 500; ``[timeout]`` an answer slower than
the client's timeout; ``[malformed]`` a 200 whose body is not JSON; ``[always500]`` 500
every time (the prompt ends up recorded as failed); ``[echo-auth]`` always a 500 whose body echoes
the Authorization header (a server that leaks the key back must not make edgekd leak it).

The server counts every request and every paid answer (a 200 with a completion) per prompt.
``hold_after(n)``: after ``n`` paid answers, further requests wait until ``release()`` and
then get 503, so a client killed meanwhile has nothing in flight that was paid for.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

KEY = "sk-test-SECRET-0123456789"
SLOW_S = 1.5


def answer_for(prompt: str) -> str:
    """The deterministic answer: the prompt's words reversed, prefixed."""
    return "answer: " + " ".join(reversed(prompt.split()))


def _logprobs(text: str, k: int) -> dict[str, Any]:
    content = []
    for i, tok in enumerate(text.split(" ")):
        alts = [{"token": tok, "logprob": -0.1, "bytes": list(tok.encode())}]
        alts += [
            {"token": f"alt{j}", "logprob": -3.0 - j - 0.01 * i, "bytes": None}
            for j in range(k - 1)
        ]
        content.append({"token": tok, "logprob": -0.1, "bytes": None, "top_logprobs": alts})
    return {"content": content, "refusal": None}


class FakeOpenAI:
    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.paid: Counter[str] = Counter()
        self.times: dict[str, list[float]] = {}
        self.auth_headers: list[str] = []
        self._hold_after: int | None = None
        self._released = threading.Event()
        self.held = 0
        self.stored: list[dict[str, Any]] = []
        chat = re.compile(r"^(/v1|/openai/deployments/[^/]+)/chat/completions$")
        server.expect_request(chat, method="POST").respond_with_handler(self.chat)
        server.expect_request("/v1/chat/completions", method="GET").respond_with_handler(
            self.list_stored
        )
        server.expect_request(
            re.compile(r"^/v1/chat/completions/[^/]+/messages$"), method="GET"
        ).respond_with_handler(self.list_messages)

    @property
    def base_url(self) -> str:
        return self.server.url_for("/v1")

    def hold_after(self, n: int) -> None:
        self._hold_after = n

    def release(self) -> None:
        self._hold_after = None
        self._released.set()

    def total_paid(self) -> int:
        return sum(self.paid.values())

    # ---- handlers --------------------------------------------------------------------
    def _authorized(self, request: Request) -> bool:
        got = request.headers.get("Authorization", "") or request.headers.get("api-key", "")
        self.auth_headers.append(got)
        return got in (f"Bearer {KEY}", KEY)

    def chat(self, request: Request) -> Response:
        if not self._authorized(request):
            return _json({"error": {"message": "Incorrect API key provided"}}, 401)
        body = json.loads(request.data)
        prompt = " ".join(str(m.get("content") or "") for m in body["messages"])
        with self.lock:
            self.requests[prompt] += 1
            attempt = self.requests[prompt]
            self.times.setdefault(prompt, []).append(time.monotonic())
            hold = self._hold_after is not None and self.total_paid() >= self._hold_after
            if hold:
                self.held += 1
        if hold:
            self._released.wait(timeout=30)
            return _json({"error": {"message": "held"}}, 503)
        if "[always500]" in prompt:
            return _json({"error": {"message": "internal"}}, 500)
        if "[echo-auth]" in prompt:
            return _json(
                {"error": {"message": "bad: " + request.headers.get("Authorization", "")}}, 500
            )
        if attempt == 1:
            if "[429]" in prompt:
                return Response("{}", 429, {"Retry-After": "1", "Content-Type": "application/json"})
            if "[500]" in prompt:
                return _json({"error": {"message": "boom"}}, 500)
            if "[timeout]" in prompt:
                time.sleep(SLOW_S)
            if "[malformed]" in prompt:
                return Response("<html>not json", 200, {"Content-Type": "application/json"})
        text = _judge(body["messages"]) or answer_for(prompt)
        k = int(body.get("top_logprobs") or 0)
        with self.lock:
            self.paid[prompt] += 1
        return _json(
            {
                "id": f"chatcmpl-{len(self.paid)}",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": body.get("model", "fake"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "finish_reason": "stop",
                        "logprobs": _logprobs(text, k) if body.get("logprobs") else None,
                    }
                ],
                "usage": {
                    "prompt_tokens": len(prompt.split()),
                    "completion_tokens": len(text.split(" ")),
                    "total_tokens": 0,
                },
            }
        )

    def list_stored(self, request: Request) -> Response:
        if not self._authorized(request):
            return _json({"error": {"message": "Incorrect API key provided"}}, 401)
        limit = int(request.args.get("limit", 20))
        after = request.args.get("after")
        meta = {
            k[len("metadata[") : -1]: v
            for k, v in request.args.items()
            if k.startswith("metadata[")
        }
        items = [c for c in self.stored if all(c["metadata"].get(k) == v for k, v in meta.items())]
        start = 0 if after is None else next(i for i, c in enumerate(items) if c["id"] == after) + 1
        page = items[start : start + limit]
        data = [{k: v for k, v in c.items() if k != "input_messages"} for c in page]
        return _json(
            {
                "object": "list",
                "data": data,
                "has_more": start + limit < len(items),
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )

    def list_messages(self, request: Request) -> Response:
        if not self._authorized(request):
            return _json({"error": {"message": "Incorrect API key provided"}}, 401)
        cid = request.path.split("/")[-2]
        c = next(c for c in self.stored if c["id"] == cid)
        data = [{"id": f"{cid}-{i}", **m} for i, m in enumerate(c["input_messages"])]
        return _json({"object": "list", "data": data, "has_more": False})


def _judge(messages: list[dict[str, Any]]) -> str | None:
    """As an LLM judge (a system rubric asking for 1-5): 5 when the student's answer equals
    the reference, else 2."""
    if messages[0]["role"] != "system" or "Score 1-5" not in messages[0]["content"]:
        return None
    m = re.search(
        r"Reference answer:\n(.*)\n\nStudent answer:\n(.*)\n\nScore", messages[-1]["content"], re.S
    )
    return None if m is None else ("5" if m.group(1) == m.group(2) else "2")


def _json(obj: Any, status: int = 200) -> Response:
    return Response(json.dumps(obj), status, {"Content-Type": "application/json"})


def stored_completion(i: int, prompt: str, metadata: dict[str, str], **choice: Any) -> dict:
    """A record shaped like the stored-completions list API returns it (plus its input)."""
    text = choice.pop("content", answer_for(prompt))
    return {
        "id": f"chatcmpl-stored-{i}",
        "object": "chat.completion",
        "created": 1_700_000_000 + i * 86_400,
        "model": "gpt-test",
        "metadata": metadata,
        "request_id": f"req-{i}",
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": text,
                    "refusal": choice.pop("refusal", None),
                },
                "finish_reason": choice.pop("finish_reason", "stop"),
                "logprobs": _logprobs(text, 3),
            }
        ],
        "input_messages": [{"role": "user", "content": prompt}],
    }
