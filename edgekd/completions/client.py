"""OpenAI-compatible endpoint client: retries, backoff, ``Retry-After``, timeouts, Azure form.

Built on the ``openai`` package (hosted OpenAI, Azure OpenAI, vLLM, TGI, llama.cpp servers
all speak it) with its own retries off, because the policy here is specific:

- 429, 408, 409 and 5xx, timeouts, connection errors and unparseable bodies are retried up
  to ``max_retries`` times with exponential backoff and full jitter (Brooker, "Exponential
  Backoff And Jitter", AWS Architecture Blog 2015), never sooner than the server's
  ``Retry-After`` / ``retry-after-ms`` header says;
- every request has a bounded timeout (``timeout_s``);
- 401 and 403 stop everything with exit 2 and the status (no retry can fix a key);
- anything else, or retries exhausted, becomes a failed outcome with its reason.

The API key is read from an environment variable and only handed to the SDK; every message
this module makes passes through :func:`redact`, so the key never reaches a file, a log line,
a manifest or an exception.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import time
from typing import Any
from urllib.parse import urlparse

from edgekd.completions.teacher_types import Outcome, Settings
from edgekd.completions.teachers import EndpointOptions
from edgekd.errors import UsageError, require

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
AUTH_STATUS = frozenset({401, 403})
BACKOFF_BASE_S = float(os.environ.get("EDGEKD_BACKOFF_BASE_S", "0.5"))
BACKOFF_MAX_S = 30.0


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


def check_base_url(url: str | None) -> None:
    if url is None:
        return
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise UsageError(f"--base-url {url!r}: expected an http:// or https:// URL")


def api_key(env: str) -> str:
    """The key from ``env``; UsageError naming the variable (never its value) if unset."""
    key = os.environ.get(env, "")
    if not key:
        raise UsageError(
            f"the API key variable {env} is not set (export {env}=... or pick another "
            "variable with --api-key-env)"
        )
    return key


def retry_after_s(headers: Any) -> float | None:
    """Seconds the server asks to wait: ``retry-after-ms``, or ``Retry-After`` (seconds or
    an HTTP date, RFC 9110 section 10.2.3)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if not ra:
        return None
    try:
        return max(0.0, float(ra))
    except ValueError:
        when = email.utils.parsedate_to_datetime(ra) if ra else None
        return None if when is None else max(0.0, when.timestamp() - time.time())


def backoff_s(attempt: int, retry_after: float | None, base: float | None = None) -> float:
    """Full-jitter exponential backoff, at least the server's Retry-After."""
    base = BACKOFF_BASE_S if base is None else base
    wait = random.uniform(0, min(BACKOFF_MAX_S, base * 2**attempt))
    return max(wait, retry_after or 0.0)


class EndpointClient:
    """Chat completions against one endpoint (OpenAI or Azure form)."""

    def __init__(self, model: str, ep: EndpointOptions) -> None:
        check_base_url(ep.base_url)
        self.model, self.ep = model, ep
        self._key = api_key(ep.api_key_env)
        openai = require("openai", "llm")
        common = {"api_key": self._key, "timeout": ep.timeout_s, "max_retries": 0}
        if ep.api_version:  # Azure: /openai/deployments/{model}/chat/completions?api-version=
            if not ep.base_url:
                raise UsageError("--api-version (Azure) needs --base-url (the Azure endpoint)")
            self.sdk = openai.AzureOpenAI(
                azure_endpoint=ep.base_url,
                api_version=ep.api_version,
                azure_deployment=model,
                **common,
            )
        else:
            self.sdk = openai.OpenAI(base_url=ep.base_url, **common)
        self.url = ep.base_url or "https://api.openai.com/v1"

    def redact(self, text: str) -> str:
        return redact(text, self._key)

    def chat(self, messages: list[dict[str, Any]], settings: Settings) -> dict[str, Any]:
        """The parsed response body of one chat completion, after retries.

        Raises UsageError on 401/403 and ``RuntimeError(reason)`` when retries run out or
        the request cannot succeed.
        """
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": settings.max_tokens,
            "temperature": settings.temperature,
        }
        if settings.top_logprobs > 0:
            kwargs.update(logprobs=True, top_logprobs=settings.top_logprobs)
        if settings.seed is not None:
            kwargs["seed"] = settings.seed
        return self.request(lambda: self.sdk.chat.completions.with_raw_response.create(**kwargs))

    def request(self, call: Any) -> dict[str, Any]:
        """Run ``call`` (an SDK ``with_raw_response`` call) under the retry policy."""
        last = "no attempt"
        for attempt in range(self.ep.max_retries + 1):
            try:
                return self._once(call)
            except _Retryable as exc:
                last = exc.reason
                if attempt == self.ep.max_retries:
                    break
                time.sleep(backoff_s(attempt, exc.retry_after))
        raise RuntimeError(self.redact(f"{last} (after {self.ep.max_retries + 1} attempts)"))

    def _once(self, call: Any) -> dict[str, Any]:
        import openai

        try:
            raw = call()
        except openai.APITimeoutError:
            raise _Retryable(f"timeout: no answer within {self.ep.timeout_s:g} s") from None
        except openai.APIConnectionError as exc:
            raise _Retryable(f"connection: {self.redact(str(exc.__cause__ or exc))}") from None
        except openai.APIStatusError as exc:
            status = exc.status_code
            body = self.redact(_excerpt(exc.response.text))
            if status in AUTH_STATUS:
                raise UsageError(
                    f"{self.url}: authentication failed (HTTP {status}): {body} "
                    f"(check the key in {self.ep.api_key_env})"
                ) from None
            if status in RETRY_STATUS:
                raise _Retryable(
                    f"http {status}: {body}", retry_after_s(exc.response.headers)
                ) from None
            raise RuntimeError(f"http {status}: {body}") from None
        text = raw.http_response.text
        try:
            body = json.loads(text)
        except json.JSONDecodeError:
            raise _Retryable(f"malformed body: not JSON ({_excerpt(text)!r})") from None
        if not isinstance(body, dict):
            raise _Retryable("malformed body: not a JSON object")
        return body


def redact(text: str, key: str) -> str:
    return text.replace(key, "[redacted]") if key else text


def _excerpt(text: str, n: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n] + "..."


def parse_choice(body: dict[str, Any]) -> Outcome:
    """An Outcome from a chat completion body; ``error`` set when the shape is wrong."""
    from edgekd.completions import logprobs as lp

    try:
        choice = body["choices"][0]
        msg = choice["message"]
        content = msg.get("content")
        if content is not None and not isinstance(content, str):
            raise TypeError("message.content is not a string")
        topk = None
        lp_content = (choice.get("logprobs") or {}).get("content")
        if lp_content:
            topk = lp.encode(lp.from_openai(lp_content))
        usage = body.get("usage") or {}
        return Outcome(
            answer=content or "",
            finish_reason=choice.get("finish_reason"),
            logprobs=topk,
            completion_tokens=int(usage.get("completion_tokens") or 0),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            model=body.get("model"),
            refusal=msg.get("refusal"),
        )
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        return Outcome(error=f"malformed body: {type(exc).__name__}: {exc}")


class EndpointTeacher:
    """``openai:MODEL``: one request per prompt, ``concurrency`` requests at once."""

    def __init__(self, model: str, ep: EndpointOptions) -> None:
        self.client = EndpointClient(model, ep)
        host = urlparse(self.client.url).netloc
        self.id = f"openai:{model}@{host}"
        self.batch_size = 1
        self.concurrency = ep.concurrency

    def load(self) -> None:
        pass

    def complete(self, prompts: list[list[dict[str, Any]]], settings: Settings) -> list[Outcome]:
        out = []
        for messages in prompts:
            turns = [{"role": m["role"], "content": m.get("content") or ""} for m in messages]
            try:
                body = self.client.chat(turns, settings)
            except RuntimeError as exc:
                out.append(Outcome(error=str(exc)))
                continue
            o = parse_choice(body)
            if o.error is None and o.completion_tokens == 0 and o.logprobs is not None:
                o.completion_tokens = int(o.logprobs["n"])
            out.append(o)
        return out
