"""``edgekd completions import|pull|generate|stats|eval``: teacher-generated datasets.

A thin layer over :mod:`edgekd.completions.api`; nothing heavy is imported until a command
runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="Datasets of a teacher LLM's answers: import, pull, generate, stats, eval.",
    no_args_is_help=True,
)

Where = Annotated[
    list[str] | None,
    typer.Option("--where", help="Keep records whose metadata KEY is VALUE (KEY=V1,V2: any)."),
]
Since = Annotated[str | None, typer.Option("--since", help="Keep records created since DATE.")]
KeepTruncated = Annotated[
    bool,
    typer.Option("--keep-truncated", help="Keep answers cut at max tokens (finish_reason=length)."),
]
ApiKeyEnv = Annotated[
    str, typer.Option("--api-key-env", help="Environment variable holding the API key.")
]
Timeout = Annotated[float, typer.Option("--timeout", help="Seconds per request.")]
Retries = Annotated[int, typer.Option("--max-retries", help="Retries on 429/5xx/timeouts.")]
BaseUrl = Annotated[
    str | None, typer.Option("--base-url", help="OpenAI-compatible base URL (http/https).")
]
ApiVersion = Annotated[
    str | None, typer.Option("--api-version", help="Azure OpenAI api-version (Azure form).")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def _reporter(quiet: bool) -> Any:
    from edgekd.progress import NullReporter, RichReporter

    return NullReporter() if quiet else RichReporter()


def _pairs(items: list[str] | None, option: str) -> dict[str, str]:
    from edgekd.errors import UsageError

    out = {}
    for item in items or []:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise UsageError(f"{option} {item!r}: expected KEY=VALUE")
        out[k] = v
    return out


def _print_import(s: dict[str, Any]) -> None:
    removed = ", ".join(f"{n} {k}" for k, n in s["removed"].items() if n) or "none"
    splits = ", ".join(f"{k} {v}" for k, v in sorted(s["splits"].items()))
    typer.echo(
        f"wrote {s['out']}: {s['kept']} records of {s['read']} read ({splits}); "
        f"removed: {removed}; with log-probs: {s['with_logprobs']}"
    )


@app.command("import")
def import_cmd(
    files: Annotated[list[Path], typer.Argument(help="JSONL files (any of the three formats).")],
    out: Annotated[Path, typer.Option("--out", help="The dataset JSONL to write.")],
    where: Where = None,
    since: Since = None,
    keep_truncated: KeepTruncated = False,
    json_: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Build a dataset from fine-tuning JSONL, stored chat completions or edgekd records."""
    from edgekd.completions.api import import_completions

    s = import_completions(files, out, where=where, since=since, keep_truncated=keep_truncated)
    typer.echo(json.dumps(s, indent=2)) if json_ else _print_import(s)


@app.command("pull")
def pull_cmd(
    endpoint: Annotated[str, typer.Option("--endpoint", help="Base URL of the endpoint.")],
    out: Annotated[Path, typer.Option("--out", help="The dataset JSONL to write.")],
    where: Where = None,
    since: Since = None,
    model: Annotated[str | None, typer.Option("--model", help="Only this model's.")] = None,
    api_key_env: ApiKeyEnv = "OPENAI_API_KEY",
    timeout: Timeout = 60.0,
    max_retries: Retries = 5,
    keep_truncated: KeepTruncated = False,
    quiet: Quiet = False,
) -> None:
    """Page through a stored-completions endpoint and build the dataset from it."""
    from edgekd.completions.api import pull_completions

    s = pull_completions(
        endpoint,
        out,
        where=where,
        since=since,
        model=model,
        api_key_env=api_key_env,
        timeout_s=timeout,
        max_retries=max_retries,
        keep_truncated=keep_truncated,
        reporter=_reporter(quiet),
    )
    typer.echo(f"pulled {s['pulled']} stored completions into {s['pulled_file']}")
    _print_import(s)


@app.command("generate")
def generate_cmd(
    teacher: Annotated[str, typer.Option("--teacher", help="openai:MODEL or hf:DIR|FILE.gguf")],
    prompts: Annotated[Path, typer.Option("--prompts", help="JSONL of messages, or text lines.")],
    out: Annotated[Path, typer.Option("--out", help="The dataset JSONL to append to.")],
    top_logprobs: Annotated[int, typer.Option("--top-logprobs", help="Keep top K.")] = 0,
    max_tokens: Annotated[int, typer.Option("--max-tokens")] = 256,
    temperature: Annotated[float, typer.Option("--temperature")] = 0.0,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", help="Requests at once.")] = 4,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Prompts per hf: batch.")] = 8,
    metadata: Annotated[
        list[str] | None, typer.Option("--metadata", help="KEY=VALUE on every record.")
    ] = None,
    base_url: BaseUrl = None,
    api_key_env: ApiKeyEnv = "OPENAI_API_KEY",
    api_version: ApiVersion = None,
    timeout: Timeout = 60.0,
    max_retries: Retries = 5,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue OUT; prompts already there are skipped.")
    ] = False,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="With --resume: try failed prompts again.")
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Run a teacher over prompts; each prompt is generated once, resumably."""
    from edgekd.completions.api import generate_completions

    s = generate_completions(
        teacher,
        prompts,
        out,
        top_logprobs=top_logprobs,
        max_tokens=max_tokens,
        temperature=temperature,
        seed=seed,
        concurrency=concurrency,
        batch_size=batch_size,
        metadata=_pairs(metadata, "--metadata"),
        base_url=base_url,
        api_key_env=api_key_env,
        api_version=api_version,
        timeout_s=timeout,
        max_retries=max_retries,
        resume=resume,
        retry_failed=retry_failed,
        reporter=_reporter(quiet),
    )
    failures = ", ".join(f"{n} {k}" for k, n in s["failures"].items())
    typer.echo(
        f"wrote {out}: {s['generated']} answered, {s['failed']} failed"
        + (f" ({failures})" if failures else "")
        + f", {s['already_done']} already there; {s['completion_tokens']} tokens in "
        f"{s['seconds']:.1f} s ({s['tokens_per_s']:.1f} tokens/s)"
    )


@app.command("stats")
def stats_cmd(
    dataset: Annotated[Path, typer.Argument(help="A dataset or generation JSONL.")],
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Counts, metadata values, answer lengths, refusals and log-prob coverage."""
    from edgekd.completions.api import completions_stats

    s = completions_stats(dataset)
    if json_:
        typer.echo(json.dumps(s, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"{dataset}")
    t.add_column("what")
    t.add_column("value")
    tok = s["answer_tokens"]
    rows = [
        ("records", s["records"]),
        ("failed generations", s["failed"]),
        ("splits", ", ".join(f"{k} {v}" for k, v in sorted(s["splits"].items()))),
        (
            "answer tokens",
            f"mean {tok['mean']}, p50 {tok['p50']}, p90 {tok['p90']}, "
            f"max {tok['max']} ({tok['count']} records)",
        ),
        ("finish reasons", ", ".join(f"{k} {v}" for k, v in s["finish_reasons"].items())),
        ("refusals", s["refusals"]),
        ("empty answers", s["empty_answers"]),
        ("log-prob coverage", f"{s['logprob_coverage']:.1%} (top k: {s['top_k']})"),
    ]
    for key, values in s["metadata"].items():
        rows.append((f"metadata {key}", ", ".join(f"{v} {n}" for v, n in values.items())))
    for k, v in rows:
        t.add_row(k, str(v))
    Console().print(t)


@app.command("eval")
def eval_cmd(
    student: Annotated[
        str, typer.Option("--student", help="hf:PATH, openai:MODEL or a JSONL of its answers.")
    ],
    dataset: Annotated[Path, typer.Option("--dataset", help="The teacher's dataset.")],
    out: Annotated[Path, typer.Option("--out", help="Directory for eval.json and eval.md.")] = (
        Path("runs/completions-eval")
    ),
    split: Annotated[str, typer.Option("--split")] = "test",
    grader: Annotated[
        list[str] | None,
        typer.Option(
            "--grader",
            help="exact_match, label_agreement, rouge_l, "
            "token_agreement, llm (repeat; default: exact_match rouge_l token_agreement)",
        ),
    ] = None,
    labels: Annotated[
        str | None, typer.Option("--labels", help="Label set for label_agreement: A,B,...")
    ] = None,
    judge: Annotated[
        str | None, typer.Option("--judge", help="openai:MODEL that grades 1-5 (grader llm).")
    ] = None,
    rubric: Annotated[
        Path | None, typer.Option("--rubric", help="Text file with the judge's rubric.")
    ] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="First N records only.")] = None,
    base_url: BaseUrl = None,
    api_key_env: ApiKeyEnv = "OPENAI_API_KEY",
    api_version: ApiVersion = None,
    timeout: Timeout = 60.0,
    max_retries: Retries = 5,
    quiet: Quiet = False,
) -> None:
    """Grade a student against the teacher's answers on a split; writes eval.json/eval.md."""
    from edgekd.completions.api import eval_completions
    from edgekd.completions.evaluate import render
    from edgekd.errors import UsageError

    rubric_text = None
    if rubric is not None:
        try:
            rubric_text = rubric.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--rubric {rubric}: cannot read ({exc.strerror or exc})") from None
    r = eval_completions(
        student,
        dataset,
        out,
        split=split,
        graders=grader,
        labels=[x.strip() for x in labels.split(",")] if labels else None,
        max_tokens=max_tokens,
        judge=judge,
        rubric=rubric_text,
        base_url=base_url,
        api_key_env=api_key_env,
        api_version=api_version,
        timeout_s=timeout,
        max_retries=max_retries,
        limit=limit,
        reporter=_reporter(quiet),
    )
    typer.echo(render(r))
    typer.echo(f"wrote {out / 'eval.json'} and {out / 'eval.md'}")


def register(root: typer.Typer) -> None:
    """Add the ``completions`` group to edgekd's CLI."""
    root.add_typer(app, name="completions")
