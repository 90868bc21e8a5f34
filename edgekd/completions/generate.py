"""Run a teacher over prompts, each (teacher, prompt, settings) exactly once, resumably.

The output is an append-only JSONL log that is also the dataset: every finished prompt is
appended as one complete line with a single ``write`` on an ``O_APPEND`` descriptor and
``fsync``-ed, so after a kill the file holds whole records (a torn last line, which a crash
mid-write could leave, is cut off on resume and reported). Each record carries ``key`` =
hash(teacher id, prompt, settings); a rerun with ``--resume`` skips every key already in the
file, so no prompt is paid for twice. A prompt that fails after the client's retries is
recorded with ``status: failed`` and its reason, never dropped; ``retry_failed`` tries those
again (the newer record supersedes the failed one).

A sidecar ``OUT.manifest.json`` (written atomically) says whether the generation is
``complete`` or still ``incomplete``, with its counts, the teacher and settings (never a key).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgekd.completions import records as rec
from edgekd.completions.prompts import Prompt
from edgekd.completions.teacher_types import Outcome, Settings, Teacher
from edgekd.errors import DataError, UsageError
from edgekd.fileio import atomic_write_json
from edgekd.progress import NullReporter, Reporter

CHECKPOINT_S = float(os.environ.get("EDGEKD_CHECKPOINT_S", "10"))  # manifest rewrite period


@dataclass
class GenerationSummary:
    out: str
    teacher: str
    prompts: int
    unique_prompts: int
    already_done: int
    generated: int
    failed: int
    completion_tokens: int
    seconds: float
    tokens_per_s: float
    repaired_bytes: int = 0
    started: float = field(default_factory=time.time)
    failures: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def generation_key(teacher_id: str, messages: list[dict[str, Any]], settings: Settings) -> str:
    turns = [{"role": m["role"], "content": m.get("content") or ""} for m in messages]
    return rec.content_hash({"teacher": teacher_id, "messages": turns, **settings.as_dict()}, 32)


def manifest_path(out: Path) -> Path:
    return out.with_name(out.name + ".manifest.json")


def repair_tail(path: Path) -> int:
    """Cut a torn last line (no trailing newline) off ``path``; returns the bytes removed."""
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return 0
        step, pos = 1 << 16, size
        while pos > 0:
            pos = max(0, pos - step)
            f.seek(pos)
            chunk = f.read(min(step, size - pos))
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                keep = pos + cut + 1
                break
        else:
            keep = 0
        f.truncate(keep)
        return size - keep


def read_log(path: Path) -> dict[str, str]:
    """``key -> status`` of every generation record in ``path`` (later lines win)."""
    import json

    done: dict[str, str] = {}
    if not path.exists():
        return done
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{i}: malformed JSON ({exc.msg})") from None
            if isinstance(obj, dict) and "key" in obj:
                done[str(obj["key"])] = str(obj.get("status", "ok"))
    return done


class AppendLog:
    """An ``O_APPEND`` file: one whole line per ``write``, flushed to disk."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, line: str) -> None:
        data = line.encode("utf-8")
        written = os.write(self.fd, data)
        while written < len(data):  # regular files write whole; a short write is continued
            written += os.write(self.fd, data[written:])
        os.fsync(self.fd)

    def close(self) -> None:
        os.close(self.fd)


def _record(p: Prompt, key: str, o: Outcome, teacher: Teacher, settings: Settings) -> dict:
    meta = dict(p.metadata)
    common = {"key": key, "settings": settings.as_dict()}
    if o.error is not None:
        return {
            "schema": rec.SCHEMA,
            "status": "failed",
            "error": o.error,
            "messages": p.messages,
            "metadata": meta,
            "teacher": teacher.id,
            "created": int(time.time()),
            **common,
        }
    extra: dict[str, Any] = {"status": "ok", **common, **o.extra}
    if o.refusal:
        extra["refusal"] = o.refusal
    return rec.make_record(
        [*p.messages, {"role": "assistant", "content": o.answer or ""}],
        metadata=meta,
        logprobs=o.logprobs,
        finish_reason=o.finish_reason,
        teacher=o.model or teacher.id,
        created=int(time.time()),
        usage={"prompt_tokens": o.prompt_tokens, "completion_tokens": o.completion_tokens},
        **extra,
    )


def generate(
    teacher: Teacher,
    prompts: list[Prompt],
    out: Path,
    settings: Settings,
    *,
    resume: bool = False,
    retry_failed: bool = False,
    reporter: Reporter | None = None,
) -> GenerationSummary:
    """Generate the missing answers and append them to ``out`` (see the module docstring)."""
    reporter = reporter or NullReporter()
    out = Path(out)
    existed = out.exists() and out.stat().st_size > 0
    if existed and not resume:
        raise UsageError(
            f"{out} already has records; pass --resume to continue it (records already there "
            "are not generated again) or choose another --out"
        )
    repaired = repair_tail(out)
    if repaired:
        reporter.log(f"{out}: cut a torn last line ({repaired} bytes) left by an interrupted run")
    done = read_log(out)
    skip = {k for k, s in done.items() if s == "ok" or not retry_failed}
    pending: dict[str, Prompt] = {}
    for p in prompts:
        k = generation_key(teacher.id, p.messages, settings)
        if k not in skip:
            pending.setdefault(k, p)
    unique = len({generation_key(teacher.id, p.messages, settings) for p in prompts})
    summary = GenerationSummary(
        out=str(out),
        teacher=teacher.id,
        prompts=len(prompts),
        unique_prompts=unique,
        already_done=unique - len(pending),
        generated=0,
        failed=0,
        completion_tokens=0,
        seconds=0.0,
        tokens_per_s=0.0,
        repaired_bytes=repaired,
    )
    _write_manifest(out, summary, settings, "incomplete")
    log = AppendLog(out)
    try:
        _run(
            teacher,
            pending,
            settings,
            log,
            summary,
            reporter,
            lambda: _write_manifest(out, summary, settings, "incomplete"),
        )
    except BaseException:
        log.close()
        _write_manifest(out, summary, settings, "incomplete")
        if not existed and out.exists() and out.stat().st_size == 0:
            out.unlink()
            manifest_path(out).unlink(missing_ok=True)
        raise
    log.close()
    _write_manifest(out, summary, settings, "complete")
    return summary


def _run(
    teacher: Teacher,
    pending: dict[str, Prompt],
    settings: Settings,
    log: AppendLog,
    summary: GenerationSummary,
    reporter: Reporter,
    checkpoint: Callable[[], None],
) -> None:
    """Generate ``pending`` chunk by chunk; ``checkpoint`` rewrites the manifest every
    ``CHECKPOINT_S`` so a killed run's counts survive in it."""
    items = sorted(pending.items(), key=lambda kv: _length(kv[1]))  # similar lengths batch well
    chunks = [items[i : i + teacher.batch_size] for i in range(0, len(items), teacher.batch_size)]
    if items:
        teacher.load()  # loading weights is not generation time
    task = reporter.task("generating", len(items))
    start, last = time.perf_counter(), time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, teacher.concurrency)) as pool:
        queue = iter(chunks)
        running: dict[Future, list[tuple[str, Prompt]]] = {}

        def submit() -> None:
            chunk = next(queue, None)
            if chunk is not None:
                running[pool.submit(teacher.complete, [p.messages for _, p in chunk], settings)] = (
                    chunk
                )

        for _ in range(max(1, teacher.concurrency)):
            submit()
        try:
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    chunk = running.pop(fut)
                    outcomes = fut.result()
                    for (key, p), o in zip(chunk, outcomes, strict=True):
                        log.append(rec.dumps(_record(p, key, o, teacher, settings)))
                        _count(summary, o)
                    submit()
                summary.seconds = time.perf_counter() - start
                summary.tokens_per_s = summary.completion_tokens / max(summary.seconds, 1e-9)
                if time.monotonic() - last >= CHECKPOINT_S:
                    checkpoint()
                    last = time.monotonic()
                task.update(
                    summary.generated + summary.failed,
                    f"failed {summary.failed} · {summary.tokens_per_s:.1f} tok/s",
                )
        except BaseException:
            for fut in running:
                fut.cancel()
            raise
        finally:
            task.close()


def _count(summary: GenerationSummary, o: Outcome) -> None:
    if o.error is not None:
        summary.failed += 1
        reason = o.error.split(":", 1)[0]
        summary.failures[reason] = summary.failures.get(reason, 0) + 1
    else:
        summary.generated += 1
        summary.completion_tokens += o.completion_tokens


def _length(p: Prompt) -> int:
    return sum(len(m.get("content") or "") for m in p.messages)


def _write_manifest(out: Path, s: GenerationSummary, settings: Settings, status: str) -> None:
    """The sidecar manifest: status, settings, and one summary per run (resumes append)."""
    import json

    path = manifest_path(out)
    runs: list[dict[str, Any]] = []
    if path.exists():
        try:
            runs = list(json.loads(path.read_text()).get("runs", []))
        except (OSError, ValueError, AttributeError):
            runs = []
    this = {k: v for k, v in s.as_dict().items() if k != "out"}  # the file is beside it
    this["finished"] = status == "complete"
    runs = [{k: v for k, v in r.items() if k != "out"} for r in runs]
    runs = [r for r in runs if r.get("started") != s.started]
    runs.append({**this, "started": s.started})
    runs = [r for r in runs if r["generated"] or r["failed"]]  # a run with no work says nothing
    atomic_write_json(
        path,
        {
            "schema": "edgekd.generation.v1",
            "status": status,
            "teacher": s.teacher,
            "settings": settings.as_dict(),
            "generated": sum(r["generated"] for r in runs),
            "failed": sum(r["failed"] for r in runs),
            "completion_tokens": sum(r["completion_tokens"] for r in runs),
            "seconds": round(sum(r["seconds"] for r in runs), 3),
            "runs": runs,
        },
    )
