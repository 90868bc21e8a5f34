"""Teacher specs: ``openai:MODEL`` (any OpenAI-compatible endpoint) or ``hf:PATH`` (local).

One explicit dict of teacher kinds; each builder imports its backend when called.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgekd.completions.teacher_types import Teacher
from edgekd.errors import UsageError


@dataclass(frozen=True)
class EndpointOptions:
    """How to reach an OpenAI-compatible endpoint (the key itself is never stored)."""

    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    api_version: str | None = None  # Azure: selects the Azure form of the URL
    timeout_s: float = 60.0
    max_retries: int = 5
    concurrency: int = 4


def _openai(name: str, ep: EndpointOptions, batch_size: int) -> Teacher:
    from edgekd.completions.client import EndpointTeacher

    return EndpointTeacher(name, ep)


def _hf(name: str, ep: EndpointOptions, batch_size: int) -> Teacher:
    from edgekd.completions.hf_teacher import HFTeacher

    return HFTeacher(Path(name), batch_size=batch_size)


TEACHER_KINDS: dict[str, Callable[[str, EndpointOptions, int], Teacher]] = {
    "openai": _openai,
    "hf": _hf,
}


def build_teacher(
    spec: str, endpoint: EndpointOptions | None = None, *, batch_size: int = 8
) -> Teacher:
    """Build the teacher a spec names; UsageError for an unknown kind or an empty name."""
    kind, sep, name = spec.partition(":")
    if not sep or kind not in TEACHER_KINDS or not name:
        raise UsageError(
            f"--teacher {spec!r}: expected one of "
            + ", ".join(f"{k}:NAME" for k in TEACHER_KINDS)
            + " (openai:MODEL for an endpoint, hf:DIR or hf:FILE.gguf for a local model)"
        )
    return TEACHER_KINDS[kind](name, endpoint or EndpointOptions(), batch_size)
