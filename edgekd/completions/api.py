"""Python API of ``edgekd completions``: the CLI parses arguments and calls these.

``import_completions``, ``pull_completions``, ``generate_completions``, ``completions_stats``
and ``eval_completions`` mirror ``edgekd completions import|pull|generate|stats|eval``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgekd.completions.teachers import EndpointOptions
from edgekd.progress import Reporter


def generate_completions(
    teacher: str,
    prompts: str | Path,
    out: str | Path,
    *,
    top_logprobs: int = 0,
    max_tokens: int = 256,
    temperature: float = 0.0,
    seed: int | None = None,
    concurrency: int = 4,
    batch_size: int = 8,
    metadata: dict[str, str] | None = None,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    api_version: str | None = None,
    timeout_s: float = 60.0,
    max_retries: int = 5,
    resume: bool = False,
    retry_failed: bool = False,
    reporter: Reporter | None = None,
) -> dict[str, Any]:
    """Run ``teacher`` (``openai:MODEL`` or ``hf:PATH``) over a prompt file into ``out``.

    Each (teacher, prompt, settings) is generated once; ``resume=True`` continues a file an
    interrupted run left. Returns the run's summary (counts, tokens, tokens/s, failures).
    """
    from edgekd.completions.generate import generate
    from edgekd.completions.prompts import Prompt, load_prompts
    from edgekd.completions.teacher_types import Settings
    from edgekd.completions.teachers import build_teacher

    _check_settings(top_logprobs, max_tokens, temperature, concurrency, batch_size)
    loaded = load_prompts(Path(prompts))
    if metadata:
        loaded = [Prompt(p.messages, {**p.metadata, **metadata}, p.line) for p in loaded]
    ep = EndpointOptions(
        base_url=base_url,
        api_key_env=api_key_env,
        api_version=api_version,
        timeout_s=timeout_s,
        max_retries=max_retries,
        concurrency=concurrency,
    )
    t = build_teacher(teacher, ep, batch_size=batch_size)
    settings = Settings(
        max_tokens=max_tokens, temperature=temperature, top_logprobs=top_logprobs, seed=seed
    )
    summary = generate(
        t, loaded, Path(out), settings, resume=resume, retry_failed=retry_failed, reporter=reporter
    )
    return summary.as_dict()


def _check_settings(
    top_logprobs: int, max_tokens: int, temperature: float, concurrency: int, batch_size: int
) -> None:
    from edgekd.errors import UsageError

    if not 0 <= top_logprobs <= 20:
        raise UsageError(f"--top-logprobs {top_logprobs}: expected 0..20 (the API's maximum)")
    if max_tokens < 1:
        raise UsageError(f"--max-tokens {max_tokens}: expected at least 1")
    if not 0 <= temperature <= 2:
        raise UsageError(f"--temperature {temperature}: expected 0..2")
    if concurrency < 1 or batch_size < 1:
        raise UsageError("--concurrency and --batch-size: expected at least 1")


def import_completions(
    files: Sequence[str | Path] | str | Path,
    out: str | Path,
    *,
    where: list[str] | None = None,
    since: str | None = None,
    keep_truncated: bool = False,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    min_records: int = 10,
) -> dict[str, Any]:
    """Build a dataset from chat fine-tuning JSONL, chat completion records or edgekd
    records: filter (``KEY=VALUE``, ``KEY=V1,V2``), drop empty/refused/truncated answers,
    dedupe, split by prompt hash. Returns counts, removals by reason and split sizes."""
    from edgekd.completions.dataset import import_records

    paths = [Path(files)] if isinstance(files, (str, Path)) else [Path(f) for f in files]
    return import_records(
        paths,
        Path(out),
        where=where,
        since=since,
        keep_truncated=keep_truncated,
        fractions=fractions,
        min_records=min_records,
    ).as_dict()


def pull_completions(
    endpoint: str,
    out: str | Path,
    *,
    where: list[str] | None = None,
    since: str | None = None,
    model: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    timeout_s: float = 60.0,
    max_retries: int = 5,
    keep_truncated: bool = False,
    reporter: Reporter | None = None,
) -> dict[str, Any]:
    """Page through a stored-completions endpoint, fetch input messages, build the dataset."""
    from edgekd.completions.client import check_base_url
    from edgekd.completions.pull import pull

    check_base_url(endpoint)
    return pull(
        endpoint,
        Path(out),
        where=where,
        since=since,
        model=model,
        api_key_env=api_key_env,
        timeout_s=timeout_s,
        max_retries=max_retries,
        keep_truncated=keep_truncated,
        reporter=reporter,
    )


def completions_stats(dataset: str | Path) -> dict[str, Any]:
    """Counts, metadata values, answer lengths in tokens, refusals and log-prob coverage."""
    from edgekd.completions.stats import dataset_stats

    return dataset_stats(Path(dataset))


def eval_completions(
    student: str,
    dataset: str | Path,
    out: str | Path,
    *,
    split: str = "test",
    graders: list[str] | None = None,
    labels: list[str] | None = None,
    max_tokens: int | None = None,
    judge: str | None = None,
    rubric: str | None = None,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    api_version: str | None = None,
    timeout_s: float = 60.0,
    max_retries: int = 5,
    concurrency: int = 4,
    limit: int | None = None,
    reporter: Reporter | None = None,
) -> dict[str, Any]:
    """Grade a student (``hf:PATH``, ``openai:MODEL`` or a JSONL of its answers) against the
    teacher's answers; writes ``eval.json`` and ``eval.md`` into ``out``."""
    from edgekd.completions import graders as gr
    from edgekd.completions.evaluate import evaluate

    ep = EndpointOptions(
        base_url=base_url,
        api_key_env=api_key_env,
        api_version=api_version,
        timeout_s=timeout_s,
        max_retries=max_retries,
        concurrency=concurrency,
    )
    return evaluate(
        student,
        Path(dataset),
        Path(out),
        split=split,
        graders=graders,
        labels=labels,
        max_tokens=max_tokens,
        endpoint=ep,
        judge=judge,
        rubric=rubric or gr.RUBRIC,
        limit=limit,
        reporter=reporter,
    )
