"""Host tokens/s of an exported language model, run in its own process by
``lm_profile.measure_lm_host`` so its peak RSS is the model's.

``python -m edgekd.profile.lm_host MODEL PROMPT_TOKENS NEW_TOKENS THREADS`` prints one JSON
object: the wall time of prefilling a fixed prompt (``ttft_ms``) and the decode rate of
``NEW_TOKENS`` greedy steps, best of three runs after a warm-up, with the shipping runtime.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np


def run(path: str, prompt_tokens: int, new_tokens: int, threads: int) -> dict[str, object]:
    from pathlib import Path

    from edgekd.runtime.lm_files import read_sidecar
    from edgekd.runtime.lm_runners import open_runner

    runner = open_runner(Path(path), threads)
    doc = read_sidecar(Path(path))
    vocab = int(doc["shape"]["vocab_size"]) if doc else 100
    ids = [int(i) for i in np.random.default_rng(0).integers(0, min(vocab, 1000), prompt_tokens)]
    best_fill, best_tps = float("inf"), 0.0
    for attempt in range(4):  # the first is a warm-up
        runner.reset()
        t0 = time.perf_counter()
        logits = runner.prefill(ids)
        fill = time.perf_counter() - t0
        t1 = time.perf_counter()
        for _ in range(new_tokens):
            logits = runner.decode(int(np.argmax(logits)))
        tps = new_tokens / (time.perf_counter() - t1) if new_tokens else 0.0
        if attempt:
            best_fill, best_tps = min(best_fill, fill), max(best_tps, tps)
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "runtime": "litert" if path.endswith(".tflite") else "onnxruntime",
        "threads": threads,
        "prompt_tokens": prompt_tokens,
        "new_tokens": new_tokens,
        "ttft_ms": round(best_fill * 1e3, 4),
        "tokens_per_s": round(best_tps, 3),
        "latency_ms": {
            "p50": round(1e3 / best_tps, 4) if best_tps else None,
            "p90": None,
            "p99": None,
        },  # fmt: skip
        "peak_rss_bytes": int(rss_kib) * 1024,
    }


def main(argv: list[str]) -> int:
    path, prompt, new, threads = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    try:
        out = run(path, prompt, new, threads)
    except Exception as exc:  # reported to the parent as an error, never a crash
        out = {"error": f"{type(exc).__name__}: {exc}", "threads": threads}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
