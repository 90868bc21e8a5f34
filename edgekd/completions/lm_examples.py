"""Completions records as token sequences a causal-LM student learns from.

Each record becomes one :class:`LMExample`: the prompt (every message before the answer)
rendered with the tokenizer's chat template and tokenized whole, exactly as
``edgekd.completions.hf_teacher`` prompts a teacher and as the student is prompted at
inference, followed by the answer's tokens. The loss falls only on learned tokens: the
answer, and earlier assistant turns unless they carry ``weight: 0`` (OpenAI's fine-tuning
format; :func:`edgekd.completions.dataset.training_turns`), found by character offsets.

The answer's tokens are, in order of preference:

- the teacher's own token ids (``ids``), when the teacher's top-k log-probs are used as
  targets: then every answer position has its teacher distribution, aligned one to one;
- the answer text tokenized, followed by the end-of-turn token when the teacher stopped by
  itself (``finish_reason`` ``stop``, or a fine-tuning record); a truncated answer
  (``length``) does not teach the student to stop there.

Sequences longer than ``max_length`` lose the end of their answer; a prompt that leaves no
room for one answer token is skipped. Both are counted in :class:`BuildInfo`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgekd.completions import records as rec
from edgekd.completions.dataset import training_turns
from edgekd.errors import DataError


@dataclass
class LMExample:
    """One token sequence. ``learn[t]``: token ``t`` is a target (predicted from ``t - 1``);
    ``answer`` is the [start, stop) span of the final answer's tokens; ``prompt_len`` the
    number of tokens before it (what generation starts from)."""

    record_id: str
    input_ids: np.ndarray  # int64 [L]
    learn: np.ndarray  # bool [L]
    answer: tuple[int, int]
    task: str = "answer"  # "answer" or "rationale" (distilling step-by-step)

    @property
    def prompt_len(self) -> int:
        return self.answer[0]

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


@dataclass
class BuildInfo:
    examples: int = 0
    truncated: int = 0
    skipped_long_prompt: int = 0
    skipped_nothing_to_learn: int = 0
    tokens: int = 0
    learned_tokens: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "notes" or v}


def render_chat(tokenizer: Any, messages: Sequence[dict[str, Any]], generation: bool) -> str:
    """The messages as the model sees them: its chat template, or ``role: content`` lines for
    a base model without one (the same fallback as ``edgekd.completions.hf_teacher``)."""
    turns = [{"role": m["role"], "content": m.get("content") or ""} for m in messages]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            turns, add_generation_prompt=generation, tokenize=False
        )
    text = "".join(f"{t['role']}: {t['content']}\n" for t in turns)
    return text + ("assistant: " if generation else "")


def encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _learned_spans(
    tokenizer: Any, messages: list[dict[str, Any]], prompt: str
) -> list[tuple[int, int]]:
    """Character spans of the earlier assistant turns to learn, inside the rendered prompt."""
    spans = []
    for i, (_, learn) in enumerate(training_turns({"messages": messages})[:-1]):
        if not learn:
            continue
        start = render_chat(tokenizer, messages[:i], True)
        stop = render_chat(tokenizer, messages[: i + 1], False)
        if not (prompt.startswith(start) and prompt.startswith(stop) and len(stop) > len(start)):
            raise DataError(
                f"messages[{i}]: the chat template does not render the conversation turn by "
                "turn, so the assistant turn's tokens cannot be found; give it weight: 0"
            )
        spans.append((len(start), len(stop)))
    return spans


def _prompt_tokens(
    tokenizer: Any, messages: list[dict[str, Any]]
) -> tuple[list[int], list[bool], str]:
    prompt = render_chat(tokenizer, messages[:-1], True)
    spans = _learned_spans(tokenizer, messages, prompt)
    if not spans:
        ids = encode(tokenizer, prompt)
        return ids, [False] * len(ids), prompt
    if not getattr(tokenizer, "is_fast", False):
        raise DataError(
            "learning earlier assistant turns needs a fast tokenizer (character offsets); "
            "give those turns weight: 0"
        )
    enc = tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
    learn = [any(a <= s < b for a, b in spans) for s, _ in enc["offset_mapping"]]
    return list(enc["input_ids"]), learn, prompt


def answer_from_text(
    tokenizer: Any, record: dict[str, Any], prompt: str, stop_ids: set[int]
) -> list[int]:
    """The answer's tokens from its text, ending with the end-of-turn token when the teacher
    stopped by itself."""
    full = render_chat(tokenizer, record["messages"], False)
    if not full.startswith(prompt):
        raise DataError(
            "the chat template renders the prompt differently with and without the answer; "
            "cannot tell the answer's tokens apart"
        )
    ids = encode(tokenizer, full[len(prompt) :])
    stop = next((i for i, t in enumerate(ids) if t in stop_ids), None)
    stopped = record.get("finish_reason") in (None, "stop")
    if stop is None:
        if stopped and stop_ids:  # a template without an end-of-turn token: add one
            ids = [*ids, min(stop_ids)]
        return ids
    return ids[: stop + 1] if stopped else ids[:stop]


def build_example(
    tokenizer: Any,
    record: dict[str, Any],
    max_length: int,
    stop_ids: set[int],
    answer_ids: Sequence[int] | None,
    info: BuildInfo,
    task: str = "answer",
) -> LMExample | None:
    """One record as an :class:`LMExample` (None when it cannot fit or has nothing to learn)."""
    messages = record["messages"]
    prompt_ids, prompt_learn, prompt = _prompt_tokens(tokenizer, messages)
    learn_answer = training_turns(record)[-1][1]
    if answer_ids is None:
        answer_ids = answer_from_text(tokenizer, record, prompt, stop_ids)
    answer_ids = list(answer_ids)
    if len(prompt_ids) >= max_length:
        info.skipped_long_prompt += 1
        return None
    room = max_length - len(prompt_ids)
    if len(answer_ids) > room:
        answer_ids = answer_ids[:room]
        info.truncated += 1
    ids = prompt_ids + answer_ids
    learn = prompt_learn + [learn_answer] * len(answer_ids)
    learn[0] = False  # the first token has nothing before it to be predicted from
    if not any(learn):
        info.skipped_nothing_to_learn += 1
        return None
    info.examples += 1
    info.tokens += len(ids)
    info.learned_tokens += sum(learn)
    return LMExample(
        record_id=str(record.get("id") or rec.record_id(messages)),
        input_ids=np.asarray(ids, np.int64),
        learn=np.asarray(learn, bool),
        answer=(len(prompt_ids), len(ids)),
        task=task,
    )


def build_examples(
    tokenizer: Any,
    records: Iterable[dict[str, Any]],
    max_length: int,
    stop_ids: set[int],
    answer_ids: Callable[[dict[str, Any]], Sequence[int] | None] | None = None,
    where: str = "dataset",
    tasks: Sequence[str] | None = None,
) -> tuple[list[LMExample], list[int], BuildInfo]:
    """(examples, the index of each one's record, info): every record that fits as an example;
    ``answer_ids(record)`` gives the teacher's own answer tokens where they are to be used,
    ``tasks[i]`` the task of record ``i``. A dataset with nothing to learn is a ``DataError``."""
    info = BuildInfo()
    out, index = [], []
    for i, r in enumerate(records):
        try:
            ex = build_example(
                tokenizer,
                r,
                max_length,
                stop_ids,
                None if answer_ids is None else answer_ids(r),
                info,
                "answer" if tasks is None else tasks[i],
            )
        except DataError as exc:
            raise DataError(f"{where}: record {i} ({r.get('id', '?')}): {exc}") from None
        if ex is not None:
            out.append(ex)
            index.append(i)
    if not out:
        raise DataError(
            f"{where}: no record has an assistant turn to learn within {max_length} tokens "
            f"({info.skipped_long_prompt} prompt(s) too long, {info.skipped_nothing_to_learn} "
            "with every assistant turn at weight: 0)"
        )
    return out, index, info


def stop_token_ids(
    tokenizer: Any, model_config: Any = None, generation_config: Any = None
) -> set[int]:
    """End-of-sequence ids from the generation config, the model config and the tokenizer."""
    ids: set[int] = set()
    for src in (generation_config, model_config):
        v = getattr(src, "eos_token_id", None) if src is not None else None
        if isinstance(v, int):
            ids.add(v)
        elif v:
            ids.update(int(x) for x in v)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return ids
