"""``edgekd generate``: the exported file answers with its own tokenizer, greedily, and the
answer is the torch parent's."""

from __future__ import annotations

import json

import numpy as np

from tests.conftest import run_cli
from tests.lm_fixtures import build_llama

PROMPT = "hello there"


def _torch_greedy(model_dir, prompt: str, n: int, vmap=None) -> list[int]:
    """Reference: the parent's greedy tokens (tokenizer ids) for the chat-rendered prompt."""
    from edgekd.completions.lm_examples import encode, render_chat
    from edgekd.models.causal_lm import load_causal_lm
    from edgekd.runtime.lm_runners import TorchLM

    model, tok, _ = load_causal_lm(model_dir)
    ids = encode(tok, render_chat(tok, [{"role": "user", "content": prompt}], True))
    if vmap is not None:
        ids = [int(i) for i in vmap.to_new(ids)]
    runner, out = TorchLM(model), []
    logits = runner.prefill(ids)
    for _ in range(n):
        new = int(np.argmax(logits))
        out.append(int(vmap.to_old([new])[0]) if vmap is not None else new)
        logits = runner.decode(new)
    return out


def test_generate_float_files_answer_like_the_parent(lm_export):
    out, model_dir = lm_export
    want = _torch_greedy(model_dir, PROMPT, 6)
    stops = set(
        json.loads((out / "edgekd_lm_export.json").read_text())["files"]["model.onnx"]["stop_ids"]
    )
    want = want[: next((i for i, t in enumerate(want) if t in stops), len(want))]
    for name in ("model.onnx", "model.fp32.tflite"):
        code, text = run_cli(["generate", str(out / name), "--prompt", PROMPT, "-n", "6", "--json"])
        assert code == 0, text
        g = json.loads(text[text.index("{") :])
        assert g["token_ids"] == want, name
        assert g["prompt_tokens"] > 8 and g["new_tokens"] == len(want)
        assert g["tokens_per_s"] is None or g["tokens_per_s"] > 0


def test_generate_prints_the_answer_and_tokens_per_s(lm_export):
    out, _ = lm_export
    code, text = run_cli(
        [
            "generate",
            str(out / "model.dynamic_int8.tflite"),
            "--prompt",
            PROMPT,
            "--max-new-tokens",
            "5",
        ]
    )
    assert code == 0, text
    assert "tokens/s" in text and "time to first token" in text


def test_generate_refuses_what_the_cache_cannot_hold(lm_export):
    out, _ = lm_export
    code, text = run_cli(
        ["generate", str(out / "model.fp32.tflite"), "--prompt", PROMPT, "-n", "100"]
    )
    assert code == 2
    assert "do not fit its context of 64 tokens" in text and "Traceback" not in text


def test_generate_bad_inputs_exit_2(lm_export, tmp_path):
    out, _ = lm_export
    lone = tmp_path / "model.onnx"
    lone.write_bytes((out / "model.onnx").read_bytes())
    code, text = run_cli(["generate", str(lone), "--prompt", "hi"])
    assert code == 2 and "no tokenizer next to it" in text
    code, text = run_cli(["generate", str(tmp_path / "missing.tflite"), "--prompt", "hi"])
    assert code == 2 and "no such model file" in text
    code, text = run_cli(["generate", str(out / "model.onnx"), "--prompt", "hi", "-n", "0"])
    assert code == 2 and "--max-new-tokens 0" in text


def test_trimmed_vocabulary_student_round_trips_its_ids(tmp_path):
    """A student with a trimmed vocabulary exports with its map; generate encodes through it
    and decodes back to the tokenizer's ids, giving the parent's greedy answer."""
    from edgekd.completions.lm_examples import encode
    from edgekd.models.causal_lm import load_causal_lm, save_student
    from edgekd.models.vocab_trim import VocabMap, choose_kept, trim_model
    from tests.completions.tiny_llm import CORPUS

    src = build_llama(tmp_path / "full", layers=1)
    model, tok, _ = load_causal_lm(src)
    vmap = choose_kept([np.asarray(encode(tok, t)) for t in CORPUS], tok, len(tok))
    assert len(vmap) < model.config.vocab_size
    student = save_student(trim_model(model, vmap), tok, tmp_path / "student", {}, vmap)
    code, text = run_cli(
        [
            "export-lm",
            f"hf:{student}",
            "--out",
            str(tmp_path / "o"),
            "--format",
            "onnx",
            "--parity-tokens",
            "4",
        ]
    )
    assert code == 0, text
    assert (tmp_path / "o" / "vocab_map.json").is_file()
    code, text = run_cli(
        ["generate", str(tmp_path / "o" / "model.onnx"), "--prompt", PROMPT, "-n", "5", "--json"]
    )
    assert code == 0, text
    got = json.loads(text[text.index("{") :])["token_ids"]
    want = _torch_greedy(student, PROMPT, 5, VocabMap.load(student))
    assert got == want[: len(got)] and got
    assert all(0 <= t < vmap.source_vocab_size for t in got)
