"""``edgekd generate``: run an exported language model (ONNX or TFLite) with the tokenizer
saved next to it, greedily, and time it.

The prompt goes through the chat template the model was trained with (``--raw`` feeds the
text as it is); a trimmed student's ids go through its ``vocab_map.json`` both ways.
Generation stops at an end-of-sequence id (the sidecar's ``stop_ids``) or after
``max_new_tokens``. Time to first token is the prefill's wall time; tokens/s is decode
tokens over decode wall time, on this host (a measurement, noisy on a shared machine).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekd.errors import ModelFileError, UsageError


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    new_tokens: int
    ttft_ms: float
    decode_s: float
    tokens_per_s: float | None
    token_ids: list[int] = field(default_factory=list)
    stopped: str = "length"
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_tokenizer_next_to(path: Path) -> tuple[Any, Any]:
    """(tokenizer, vocab map or None) from the model file's directory."""
    from edgekd.models.causal_lm import transformers_offline
    from edgekd.models.vocab_trim import VocabMap

    folder = Path(path).parent
    if not any((folder / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json")):
        raise ModelFileError(
            f"{path}: no tokenizer next to it (expected tokenizer.json in {folder}); export "
            "it with `edgekd export-lm`, which saves the tokenizer beside the model"
        )
    transformers = transformers_offline()
    try:
        tok = transformers.AutoTokenizer.from_pretrained(str(folder))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{folder}: unreadable tokenizer ({exc})") from None
    return tok, VocabMap.load(folder)


def generate(
    model: str | Path,
    prompt: str,
    max_new_tokens: int = 32,
    raw: bool = False,
    threads: int | None = 1,
) -> Generation:
    """Greedy generation with the exported file ``model`` (module docstring)."""
    from edgekd.completions.lm_examples import encode, render_chat
    from edgekd.runtime.lm_files import read_sidecar
    from edgekd.runtime.lm_runners import open_runner

    path = Path(model)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    if max_new_tokens < 1:
        raise UsageError(f"--max-new-tokens {max_new_tokens}: expected at least 1")
    tok, vmap = load_tokenizer_next_to(path)
    doc = read_sidecar(path)
    record = doc["files"][path.name] if doc else {}
    warnings = []
    if record.get("parity", {}).get("status") == "fail":
        warnings.append(
            f"{path.name} failed its parity check at export: {record['parity']['message']}"
        )
    stops = set(
        record.get("stop_ids") or ([tok.eos_token_id] if tok.eos_token_id is not None else [])
    )
    text = prompt if raw else render_chat(tok, [{"role": "user", "content": prompt}], True)
    ids = encode(tok, text)
    if not ids:
        raise UsageError("--prompt: empty after tokenization")
    model_ids = [int(i) for i in (vmap.to_new(ids) if vmap is not None else ids)]
    runner = open_runner(path, threads)
    from edgekd.runtime.lm_runners import check_room

    check_room(runner, 0, len(model_ids) + max_new_tokens - 1)
    t0 = time.perf_counter()
    logits = runner.prefill(model_ids)
    ttft = time.perf_counter() - t0
    out: list[int] = []
    stopped, calls = "length", 0
    t1 = time.perf_counter()
    while True:
        new = int(np.argmax(logits))
        old = int(vmap.to_old([new])[0]) if vmap is not None else new
        if old in stops:
            stopped = "eos"
            break
        out.append(old)
        if len(out) >= max_new_tokens:
            break
        logits = runner.decode(new)
        calls += 1
    decode_s = time.perf_counter() - t1
    return Generation(
        text=tok.decode(out, skip_special_tokens=True),
        prompt_tokens=len(model_ids),
        new_tokens=len(out),
        ttft_ms=ttft * 1e3,
        decode_s=decode_s,
        tokens_per_s=calls / decode_s if calls and decode_s > 0 else None,
        token_ids=out,
        stopped=stopped,
        warnings=warnings,
    )
