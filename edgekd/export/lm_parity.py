"""Parity gates of an exported language model against its torch parent, run with the runtime
that ships the file (onnxruntime for .onnx, LiteRT for .tflite).

For each fixed prompt the parent writes a greedy continuation; the exported file is then
teacher-forced along that same sequence: its prefill signature reads the first tokens and
its decode signature every later token, one at a time, through its own KV cache. Each
signature's logits are compared with the parent's at the same positions:

- float files: the largest absolute logit difference must stay within
  ``atol + rtol x max|parent logit|`` (the relative part keeps a sharp head's large logits
  from failing on float rounding alone);
- int8 files: the share of positions where both pick the same next token (greedy-token
  agreement, teacher-forced so one early flip does not drag every later token with it) must
  reach ``min_agreement`` over all positions; each signature's share is reported, and the
  lowest is named in a failure (a wrong prefill also spoils every decode step after it).

A failure is a ``ParityError`` (exit 1) naming the file, the signature and the error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edgekd.errors import ParityError

DEFAULT_PROMPTS = (
    "Hello, how are you today?",
    "What is the capital of France?",
    "Tell me a joke about computers.",
    "Why is the sky blue?",
    "Write a haiku about the sea.",
    "What do you like to eat?",
    "Can you help me with my homework?",
    "Good morning! What should I do today?",
)
ATOL, RTOL, MIN_AGREEMENT = 1e-4, 1e-5, 0.9


@dataclass
class SignatureParity:
    positions: int = 0
    max_abs_diff: float = 0.0
    agree: int = 0

    @property
    def agreement(self) -> float:
        return self.agree / self.positions if self.positions else 1.0


@dataclass
class LMParity:
    """The result per signature and overall (``parity`` in the sidecar and reports)."""

    file: str
    precision: str
    status: str = "pass"
    tolerance: float | None = None
    min_agreement: float | None = None
    max_abs_diff: float = 0.0
    agreement: float = 1.0
    positions: int = 0
    prompts: int = 0
    signatures: dict[str, dict[str, Any]] = field(default_factory=dict)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def greedy_sequence(parent: Any, ids: Sequence[int], length: int) -> list[int]:
    """``ids`` extended by the parent's greedy tokens to ``length`` tokens."""
    parent.reset()
    seq = list(ids)
    logits = parent.prefill(seq)
    while len(seq) < length:
        seq.append(int(np.argmax(logits)))
        logits = parent.decode(seq[-1])
    parent.reset()
    return seq


def _record(stats: dict[str, SignatureParity], sig: str, got: np.ndarray, ref: np.ndarray) -> None:
    s = stats.setdefault(sig, SignatureParity())
    s.positions += 1
    s.max_abs_diff = max(s.max_abs_diff, float(np.max(np.abs(got - ref))))
    s.agree += int(np.argmax(got) == np.argmax(ref))


def _teacher_force(runner: Any, seq: list[int], ref: np.ndarray, first: int, stats: dict) -> None:
    """Prefill ``seq[:first]`` and decode the rest one token at a time, comparing every
    position's logits with ``ref``. A file with ``prefill_L`` signatures is fed whole
    ``L``-token chunks through ``prefill_L`` (each call checked), the rest through decode."""
    runner.reset()
    chunk = max(getattr(runner, "prefill_lengths", None) or [0])
    start = first
    if chunk:
        start = chunk * (first // chunk)
        for end in range(chunk, start + 1, chunk):
            got = runner.prefill_chunk(seq[end - chunk : end])
            _record(stats, f"prefill_{chunk}", got, ref[end - 1])
    else:
        _record(stats, "prefill", runner.prefill(seq[:first]), ref[first - 1])
    for j in range(start, len(seq)):
        _record(stats, "decode", runner.decode(seq[j]), ref[j])
    runner.reset()


def check_lm_parity(
    parent: Any,
    runner: Any,
    prompts: Sequence[Sequence[int]],
    precision: str,
    new_tokens: int = 16,
    atol: float = ATOL,
    rtol: float = RTOL,
    min_agreement: float = MIN_AGREEMENT,
    gate: bool = True,
    references: dict[tuple[Any, ...], tuple[list[int], np.ndarray]] | None = None,
) -> LMParity:
    """Compare ``runner`` (an exported file) with ``parent`` (a ``TorchLM``) on ``prompts``
    (model ids); raise ``ParityError`` when ``gate`` and the check fails. ``references``
    keeps the parent's sequences and logits between calls (several files, one parent)."""
    refs = references if references is not None else {}
    quantized = precision != "fp32"
    stats: dict[str, SignatureParity] = {}
    chunk = max(getattr(runner, "prefill_lengths", [0]) or [0])
    limit = (
        min(c for c in (runner.max_context, parent.max_context) if c)
        if (runner.max_context or parent.max_context)
        else None
    )
    ref_max = 0.0
    for ids in prompts:
        first = max(len(ids), chunk) if chunk else len(ids)
        length = first + new_tokens
        if limit is not None:
            length = min(length, limit)
            first = min(first, length - 1)
        key = (tuple(ids[: min(len(ids), first)]), length)
        if key not in refs:
            seq = greedy_sequence(parent, list(key[0]), length)
            refs[key] = (seq, parent.logits(seq))
        seq, ref = refs[key]
        ref_max = max(ref_max, float(np.max(np.abs(ref))))
        _teacher_force(runner, seq, ref, first, stats)
    result = LMParity(file=runner.name, precision=precision, prompts=len(prompts))
    result.positions = sum(s.positions for s in stats.values())
    result.max_abs_diff = max((s.max_abs_diff for s in stats.values()), default=0.0)
    result.agreement = sum(s.agree for s in stats.values()) / max(1, result.positions)
    result.signatures = {
        k: {"positions": s.positions, "max_abs_diff": s.max_abs_diff, "agreement": s.agreement}
        for k, s in stats.items()
    }
    if quantized:
        result.min_agreement = min_agreement
        if result.agreement < min_agreement:
            worst, sig = min((s.agreement, k) for k, s in stats.items())
            result.status = "fail"
            result.message = (
                f"{runner.name}: greedy-token agreement {result.agreement:.3f} < "
                f"{min_agreement} with the torch parent over {result.positions} positions "
                f"(lowest: signature {sig}, {worst:.3f} over {stats[sig].positions})"
            )
    else:
        tol = atol + rtol * ref_max
        result.tolerance = tol
        bad_f = [(s.max_abs_diff, k) for k, s in stats.items() if not s.max_abs_diff <= tol]
        if bad_f:
            diff, sig = max(bad_f)
            result.status = "fail"
            result.message = (
                f"{runner.name}: signature {sig}: logits max abs diff {diff:.3g} > tolerance "
                f"{tol:.3g} against the torch parent"
            )
    if gate and result.status == "fail":
        raise ParityError(f"parity failed: {result.message}")
    return result
