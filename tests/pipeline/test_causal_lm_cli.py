"""``edgekd compress`` with a ``task: causal_lm`` recipe, through the real entry point: a tiny
Llama teacher's answers distill a layer-subset student with a trimmed vocabulary, which is
evaluated against the teacher on the held-out split; and every bad input issue 14 names
exits 2 with one message naming the file or field."""

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli
from tests.lm_fixtures import build_llama, write_records

LM = {"steps": 12, "lr": 3e-3, "eval_every": 6, "batch_size": 8, "max_length": 48}


def _recipe(tmp_path: Path, data_file: Path, teacher_dir: Path | None, **over) -> Path:
    r = {
        "task": "causal_lm",
        "data": {"source": "completions", "path": str(data_file)},
        "teacher": {"model": f"hf:{teacher_dir}"} if teacher_dir else {},
        "student": {"init_from_teacher": {"layers": [0, 3]}, "trim_vocab": True},
        "distill": {"lm": dict(LM)},
        "evaluate": {"lm": {"max_new_tokens": 8}},
        "output": {"dir": str(tmp_path / "runs"), "name": "lm"},
    }
    for key, value in over.items():
        section, _, field = key.partition("__")
        if field:
            r.setdefault(section, {})[field] = value
        else:
            r[section] = value
    path = tmp_path / "lm.yaml"
    path.write_text(yaml.safe_dump(r))
    return path


def _compress(recipe: Path, *extra: str) -> tuple[int, str]:
    return run_cli(["compress", str(recipe), "--quiet", *extra])


# ONNX only: converting to TFLite takes half a minute even for the tiny model; the TFLite
# files' export, gates and evaluation are tested on the shared lm_export fixture
# (tests/export/test_lm_export.py, tests/evaluate/test_lm_files.py)
EXPORT = {"formats": ["onnx"], "lm": {"onnx": ["fp32", "dynamic_int8"], "parity_tokens": 8}}
# budgets no device meets (decode speed) and every device meets (KV cache), so both verdicts
# show; the host measurement is the profile CLI's (tests/profile)
TARGETS = {
    "names": ["pixel-4", "rpi-5", "nano-33-ble"],
    "measure": False,
    "budgets": {"rpi-5": {"tokens_per_s": 1e9}, "pixel-4": {"kv_cache_bytes": 1e9}},
}


def test_compress_distills_exports_evaluates_and_profiles_a_language_model(
    lm_teacher, lm_dataset, tmp_path
):
    """One run: distill → export (ONNX fp32 + int8, each gated) → evaluate the student and
    every file with its runtime → profile the files with a tokens/s verdict."""
    recipe = _recipe(tmp_path, lm_dataset, lm_teacher, export=EXPORT, targets=TARGETS)
    code, out = _compress(recipe)
    assert code == 0, out
    assert "Language model vs its teacher (held-out test split)" in out
    run = next((tmp_path / "runs").iterdir())
    manifest = json.loads((run / "manifest.json").read_text())
    passes = ("data", "distill", "export", "evaluate", "profile")
    assert [manifest["stages"][s]["status"] for s in passes] == ["done"] * 5
    arts = {a["id"]: a for a in manifest["artifacts"]}
    files = ("student-onnx", "student-onnx-dynamic_int8")
    assert {a for a in arts if a.startswith("student-")} == set(files)
    for f in files:
        a = arts[f]
        assert (run / a["path"]).stat().st_size == a["file_bytes"]
        assert a["parent"] == "student" and a["parity"]["status"] == "pass"
        # evaluated by its own runtime on the held-out split, the student's numbers beside
        m = a["metrics"]
        assert 0 <= m["top1"] <= 1 and m["kl"] >= 0 and 0 <= m["greedy_match"] <= 1
        assert a["extra"]["evaluate"]["records"] == arts["student"]["extra"]["evaluate"]["records"]
        rows = {t["name"]: t for t in a["extra"]["profile"]["targets"]}
        assert rows["rpi-5"]["verdict"] == "fail"
        assert rows["rpi-5"]["violations"][0]["key"] == "tokens_per_s"
        assert (
            rows["pixel-4"]["verdict"] == "pass"
            and rows["pixel-4"]["predicted"]["tokens_per_s"] > 0
        )
        assert rows["nano-33-ble"]["verdict"] == "unsupported"
    # the float file is the student: same next tokens, same scores up to float rounding
    f32, student = arts["student-onnx"]["metrics"], arts["student"]["metrics"]
    assert f32["agreement"] >= 0.95 and abs(f32["kl"] - student["kl"]) < 1e-3
    assert arts["student-onnx-dynamic_int8"]["precision"] == "int8"
    report = json.loads((run / "report.json").read_text())
    pick = report["chosen"]["pixel-4"]
    assert pick["fits"] and pick["artifact"] in files and pick["tokens_per_s"] > 0
    assert report["chosen"]["rpi-5"]["fits"] is False
    assert report["chosen"]["rpi-5"]["failing"][0]["key"] == "tokens_per_s"
    md = (run / "report.md").read_text()
    assert "tokens/s" in md and "short)" in md
    (student,) = [a for a in manifest["artifacts"] if a["id"] == "student"]
    m = student["metrics"]
    assert 0 <= m["top1"] <= 1 and m["kl"] >= 0 and 0 <= m["rouge_l"] <= 1
    assert student["extra"]["evaluate"]["targets"] == "dataset"
    assert student["extra"]["vocab"]["trimmed"] and student["extra"]["targets"] == "dataset"
    hf = run / student["extra"]["hf_dir"]
    assert (hf / "vocab_map.json").is_file() and (hf / "config.json").is_file()
    assert (
        len((run / "answers.jsonl").read_text().splitlines())
        == student["extra"]["evaluate"]["records"]
    )
    assert not report["warnings"]


def test_without_export_formats_the_run_stops_after_evaluation(lm_teacher, lm_dataset, tmp_path):
    code, out = _compress(
        _recipe(tmp_path, lm_dataset, lm_teacher, export={"formats": []}),
        "--set",
        "distill.lm.steps=2",
    )
    assert code == 0, out
    run = next((tmp_path / "runs").iterdir())
    manifest = json.loads((run / "manifest.json").read_text())
    assert list(manifest["stages"]) == ["data", "distill", "evaluate"]
    assert [a["id"] for a in manifest["artifacts"] if a["format"] in ("onnx", "tflite")] == []


def test_the_python_api_evaluates_a_student_against_its_teacher(lm_teacher, lm_dataset, tmp_path):
    """Training moves the student toward the teacher on held-out answers (the teacher's own
    top-k from the dataset), against the same layers untrained."""
    import edgekd
    from edgekd.distill.lm_config import LMDistillConfig

    student = edgekd.distill_lm(
        lm_dataset,
        tmp_path / "s",
        LMDistillConfig(**{**LM, "steps": 24}),
        teacher=f"hf:{lm_teacher}",
        student=edgekd.LMStudent(layers=(0, 3)),
    )
    trained = edgekd.evaluate_lm(student.path, lm_dataset, split="val", max_new_tokens=8, prompts=2)
    untrained = edgekd.distill_lm(
        lm_dataset,
        tmp_path / "u",
        LMDistillConfig(**{**LM, "steps": 1, "lr": 1e-12}),
        teacher=f"hf:{lm_teacher}",
        student=edgekd.LMStudent(layers=(0, 3)),
    )
    before = edgekd.evaluate_lm(
        untrained.path, lm_dataset, split="val", max_new_tokens=8, prompts=2
    )
    assert trained["targets"] == before["targets"] == "dataset"
    assert trained["kl"] < before["kl"] and trained["nll"] < before["nll"]
    assert trained["rouge_prompts"] == 2 and len(trained["answers"]) == 2


# ---- bad input: exit 2, one message naming the file or field ---------------------------


def _exit2(code: int, out: str) -> str:
    assert code == 2, out
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1, out
    return out


def test_a_teacher_directory_that_is_not_a_causal_lm(lm_dataset, tmp_path):
    from edgekd.models.hf import import_transformers

    import_transformers()
    from transformers import BertConfig

    d = tmp_path / "bert"
    cfg = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2)
    cfg.architectures = ["BertForMaskedLM"]
    cfg.save_pretrained(d)
    out = _exit2(*_compress(_recipe(tmp_path, lm_dataset, d)))
    assert f"teacher.model: hf:{d}: BertForMaskedLM is not a causal language model" in out
    assert not (tmp_path / "runs").exists()  # refused before any work


def test_a_student_tokenizer_that_differs_for_a_token_level_loss(lm_teacher, lm_dataset, tmp_path):
    from tokenizers import pre_tokenizers

    from tests.completions.tiny_llm import build_tokenizer

    tok = build_tokenizer()
    tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    other = build_llama(tmp_path / "other", layers=1, tokenizer=tok)
    recipe = _recipe(tmp_path, lm_dataset, lm_teacher, student={"model": f"hf:{other}"})
    out = _exit2(*_compress(recipe))
    assert "distill.lm: teacher and student tokenizers differ: sample 0" in out
    assert "encodes differently at token 0: teacher" in out


def test_a_completions_dataset_without_assistant_turns(lm_teacher, tmp_path):
    rows = [{"messages": [{"role": "user", "content": f"hi {i}"}]} for i in range(12)]
    data = write_records(tmp_path / "users.jsonl", rows)
    out = _exit2(*_compress(_recipe(tmp_path, data, lm_teacher)))
    assert "users.jsonl:1: messages: no assistant turn" in out


def test_a_context_length_above_the_models_maximum(lm_teacher, lm_dataset, tmp_path):
    recipe = _recipe(tmp_path, lm_dataset, lm_teacher)
    out = _exit2(*_compress(recipe, "--set", "distill.lm.max_length=4096"))
    assert "distill.lm.max_length: 4096 tokens is above the student's maximum context of 128" in out


def test_a_layer_index_outside_the_teacher(lm_teacher, lm_dataset, tmp_path):
    recipe = _recipe(tmp_path, lm_dataset, lm_teacher)
    out = _exit2(*_compress(recipe, "--set", "student.init_from_teacher.layers=[0,4]"))
    assert "student.init_from_teacher.layers: layer 4 is outside the teacher's 4 layers" in out


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"data": {"source": "digits"}}, "data.source: task causal_lm learns from a completions"),
        ({"task": "classification"}, "data.source: completions trains a language-model student"),
        ({"teacher": {"model": "zoo:cnn"}}, "teacher.model: 'zoo:cnn': task causal_lm takes hf:"),
        (
            {"prune": {"method": "structured"}},
            "prune.method: 'structured': task causal_lm does not prune; set none",
        ),
        (
            {"quantize": {"method": "static"}},
            "quantize.method: 'static': task causal_lm quantizes its exported files with "
            "export.lm.onnx",
        ),
        (
            {"targets": {"budgets": {"pixel-4": {"latency_ms": 5}}}},
            "targets.budgets.pixel-4.latency_ms: not a language-model budget; valid: tokens_per_s",
        ),
        (
            {"export": {"lm": {"onnx": ["int3"]}}},
            "export.lm.onnx.0",
        ),
        (  # the student: 2 of the tiny teacher's layers, 2 KV heads of 8 -> 256 B per token
            {"targets": {"budgets": {"rpi-5": {"kv_cache_bytes": 100}}}},
            "targets.budgets.rpi-5.kv_cache_bytes: 100 bytes cannot hold one token: the "
            "student's KV cache needs 256 bytes per token (2 x 2 layers x 2 KV heads x 8 x 4",
        ),
    ],
)
def test_recipes_that_mix_tasks_are_refused(lm_teacher, lm_dataset, tmp_path, over, message):
    out = _exit2(*_compress(_recipe(tmp_path, lm_dataset, lm_teacher, **over)))
    assert message in out
