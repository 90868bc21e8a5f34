"""The local `hf:` teacher: a tiny Llama from a config, as a directory and as a GGUF file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgekd.completions import logprobs as lp
from tests.completions.conftest import lines
from tests.completions.tiny_llm import build_dir, write_gguf
from tests.conftest import run_cli

PROMPTS = [
    {"messages": [{"role": "user", "content": "hello how are you"}], "metadata": {"k": "a"}},
    {"messages": [{"role": "user", "content": "what is the capital of france today"}]},
    {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "tell me a joke about robots"},
        ]
    },
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-llm")
    d = build_dir(root / "teacher")
    prompts = root / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(p) + "\n" for p in PROMPTS))
    return {
        "dir": d,
        "gguf": write_gguf(d, root / "teacher.gguf"),
        "other": build_dir(root / "other", seed=1),
        "prompts": prompts,
    }


def _gen(teacher: str, prompts: Path, out: Path, *extra: str) -> tuple[int, str]:
    return run_cli(
        [
            "completions",
            "generate",
            "--teacher",
            teacher,
            "--prompts",
            str(prompts),
            "--out",
            str(out),
            "--top-logprobs",
            "5",
            "--max-tokens",
            "6",
            "--quiet",
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def generated(tiny, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "dir.jsonl"
    code, text = _gen(f"hf:{tiny['dir']}", tiny["prompts"], out, "--batch-size", "3")
    assert code == 0, text
    return out


def test_hf_dir_records_carry_token_ids_and_exact_tails(generated: Path) -> None:
    recs = lines(generated)
    assert len(recs) == 3 and all(r["status"] == "ok" for r in recs)
    assert recs[0]["teacher"].startswith("hf:teacher@")
    for r in recs:
        tk = lp.decode(r["logprobs"])
        assert tk.tokens == "ids" and tk.k == 5
        assert len(tk) == r["usage"]["completion_tokens"] <= 6
        assert r["finish_reason"] in ("stop", "length")
        assert np.all(np.diff(tk.top_logprob, axis=1) <= 0)  # most likely first
        assert np.all(tk.top_logprob <= 0)
        mass = np.exp(tk.top_logprob.astype(np.float64)).sum(1) + np.exp(tk.tail_logprob)
        np.testing.assert_allclose(mass, 1.0, atol=5e-3)
        # greedy: the emitted token is the most likely one, with its log-prob
        np.testing.assert_allclose(tk.sampled_logprob, tk.top_logprob[:, 0], atol=1e-3)


def test_left_padded_batch_matches_one_prompt_at_a_time(tiny, generated, tmp_path) -> None:
    single = tmp_path / "single.jsonl"
    code, text = _gen(f"hf:{tiny['dir']}", tiny["prompts"], single, "--batch-size", "1")
    assert code == 0, text
    a = {r["key"]: lp.decode(r["logprobs"]) for r in lines(generated)}
    b = {r["key"]: lp.decode(r["logprobs"]) for r in lines(single)}
    assert a.keys() == b.keys()
    for k in a:  # the first position sees no generated token: padding must not change it
        np.testing.assert_allclose(a[k].top_logprob[0], b[k].top_logprob[0], atol=2e-3)
        assert a[k].top[0].tolist() == b[k].top[0].tolist()


def test_gguf_file_gives_the_same_teacher(tiny, generated, tmp_path) -> None:
    out = tmp_path / "gguf.jsonl"
    code, text = _gen(f"hf:{tiny['gguf']}", tiny["prompts"], out, "--batch-size", "3")
    assert code == 0, text
    by_prompt = {r["messages"][-2]["content"]: r for r in lines(generated)}
    for r in lines(out):
        ref = by_prompt[r["messages"][-2]["content"]]
        assert r["messages"][-1] == ref["messages"][-1]
        t1, t2 = lp.decode(r["logprobs"]), lp.decode(ref["logprobs"])
        assert t1.top.tolist() == t2.top.tolist()
        np.testing.assert_allclose(t1.top_logprob, t2.top_logprob, atol=1e-3)


def test_eval_student_equal_to_teacher_agrees_fully(tiny, generated, tmp_path) -> None:
    result = _eval(tiny["dir"], generated, tmp_path / "same")
    g = result["graders"]
    assert result["pairs"] == 3
    assert g["exact_match"]["mean"] == 1.0 and g["rouge_l"]["mean"] == 1.0
    assert g["token_agreement"]["mean"] == 1.0 and g["token_agreement"]["scored"] == 3
    other = _eval(tiny["other"], generated, tmp_path / "other")
    assert other["graders"]["token_agreement"]["mean"] < 1.0
    assert (tmp_path / "other" / "eval.md").read_text().startswith("# Student vs teacher")


def _eval(student: Path, dataset: Path, out: Path) -> dict:
    import edgekd
    from edgekd.completions.dataset import read_dataset

    records = read_dataset(dataset)
    all_split = out.parent / f"{out.name}-all.jsonl"
    all_split.write_text("".join(json.dumps({**r, "split": "test"}) + "\n" for r in records))
    return edgekd.eval_completions(f"hf:{student}", all_split, out, max_tokens=6)


def test_unreadable_gguf_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 7)
    (tmp_path / "p.txt").write_text("hi\n")
    code, text = _gen(f"hf:{bad}", tmp_path / "p.txt", tmp_path / "o.jsonl")
    assert code == 2 and "broken.gguf: not a readable GGUF file" in text


def test_hf_path_that_is_not_a_model_exits_2(tmp_path: Path) -> None:
    (tmp_path / "p.txt").write_text("hi\n")
    code, text = _gen(f"hf:{tmp_path}", tmp_path / "p.txt", tmp_path / "o.jsonl")
    assert code == 2 and "not a transformers model directory (no config.json)" in text
    code, text = _gen("hf:/nonexistent/model", tmp_path / "p.txt", tmp_path / "o.jsonl")
    assert code == 2 and "no such file or directory" in text
