"""What a teacher (or an LM student under evaluation) is to the generation loop."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Settings:
    """Generation settings; part of each record's key, so changing one generates anew."""

    max_tokens: int = 256
    temperature: float = 0.0
    top_logprobs: int = 0
    seed: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Outcome:
    """The teacher's answer to one prompt, or why there is none."""

    answer: str | None = None
    finish_reason: str | None = None
    logprobs: dict[str, Any] | None = None  # encoded (logprobs.encode)
    completion_tokens: int = 0
    prompt_tokens: int = 0
    model: str | None = None
    error: str | None = None
    refusal: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Teacher(Protocol):
    """Maps prompts (lists of chat messages) to answers.

    ``id`` names the teacher stably across machines (it keys records); ``batch_size`` prompts
    go to one ``complete`` call; ``concurrency`` calls may run at once (threads).
    """

    id: str
    batch_size: int
    concurrency: int

    def load(self) -> None:
        """Get ready (load weights); called before the clock starts, only when there is work."""
        ...

    def complete(self, prompts: list[list[dict[str, Any]]], settings: Settings) -> list[Outcome]:
        """One outcome per prompt. Raises UsageError for what no retry can fix (auth)."""
        ...
