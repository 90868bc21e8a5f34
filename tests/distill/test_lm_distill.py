"""``edgekd.distill_lm`` end to end on a tiny Llama teacher and its real answers: every loss,
where the targets come from, on-policy batches, rationales, and the bad inputs (exit 2)."""

import json

import pytest

from edgekd.cache import Cache
from edgekd.completions.dataset import read_dataset
from edgekd.distill.lm_api import LMStudent, distill_lm
from edgekd.distill.lm_config import LMDistillConfig, RationaleConfig
from edgekd.errors import DataError, ModelFileError, RecipeError, UsageError
from edgekd.models.causal_lm import load_causal_lm, read_meta
from edgekd.models.vocab_trim import VocabMap
from tests.lm_fixtures import build_llama, write_records

FAST = {"steps": 16, "lr": 3e-3, "eval_every": 8, "batch_size": 8, "max_length": 48}


def _run(data, out, teacher, student, **cfg):
    return distill_lm(
        data, out, LMDistillConfig(**{**FAST, **cfg}), teacher=f"hf:{teacher}", student=student
    )


def test_token_kd_from_dataset_logprobs_moves_a_trimmed_student_to_the_teacher(
    lm_teacher, lm_dataset, tmp_path
):
    r = _run(lm_dataset, tmp_path / "s", lm_teacher, LMStudent(layers=(0, 3), trim_vocab=True))
    first, last = r.history["val"][0], r.history["val"][-1]
    assert r.info["source"] == "dataset"
    assert last["val_kl"] < first["val_kl"] and last["val_nll"] < first["val_nll"]
    vmap = VocabMap.load(r.path)
    assert vmap is not None and len(vmap) == r.info["vocab"]["size"] < 300
    meta = read_meta(r.path)
    assert (
        meta["init_from_teacher"] == [0, 3]
        and meta["vocab_trimmed"]
        and meta["targets"] == "dataset"
    )
    model, _, _ = load_causal_lm(r.path)
    assert model.config.num_hidden_layers == 2 and model.config.vocab_size == len(vmap)


@pytest.mark.parametrize("divergence", ["reverse_kl", "jsd", "tv"])
def test_each_divergence_trains_from_the_local_teachers_cached_topk(
    divergence, lm_teacher, lm_dataset, tmp_path
):
    r = _run(
        lm_dataset,
        tmp_path / "s",
        lm_teacher,
        LMStudent(layers=(1,)),
        divergence=divergence,
        beta=0.3,
        teacher_logprobs="teacher",
        top_k=8,
        sft_weight=0.0,
        lr=1e-3,
    )
    assert r.info["source"] == "teacher"
    assert r.history["val"][-1]["val_kl"] < r.history["val"][0]["val_kl"]


def test_teacher_topk_is_computed_once_per_teacher_and_examples(lm_teacher, lm_dataset, tmp_path):
    cfg = LMDistillConfig(**{**FAST, "steps": 2}, teacher_logprobs="teacher")
    calls = []
    cache = Cache(tmp_path / "c", record=calls.append)
    for i in range(2):
        r = distill_lm(
            lm_dataset, tmp_path / f"s{i}", cfg, teacher=f"hf:{lm_teacher}",
            student=LMStudent(layers=(0,)), cache=cache,
        )  # fmt: skip
    assert r.info["teacher_cache_hit"] is True
    assert [c["hit"] for c in calls if c["kind"] == "lm-teacher-topk"] == [False, False, True, True]


def test_sequence_kd_trains_a_config_built_student_on_the_teachers_text(
    lm_teacher, lm_dataset, tmp_path
):
    d = build_llama(tmp_path / "fresh", layers=1, weights=False)
    r = distill_lm(
        lm_dataset,
        tmp_path / "s",
        LMDistillConfig(**FAST, method="sft"),
        student=LMStudent(model=f"hf:{d}"),
    )
    assert r.info["source"] == "none" and r.info["student"]["weights"] == "config"
    assert r.history["val"][-1]["val_nll"] < r.history["val"][0]["val_nll"]


def test_full_logits_and_on_policy_batches(lm_teacher, lm_dataset, tmp_path):
    r = _run(
        lm_dataset,
        tmp_path / "s",
        lm_teacher,
        LMStudent(layers=(0,)),
        top_k=None,
        lmbda=1.0,
        steps=3,
        eval_every=3,
        max_new_tokens=6,
    )
    assert r.info["source"] == "full" and r.history["on_policy_batches"] == 3
    trimmed = _run(
        lm_dataset,
        tmp_path / "t",
        lm_teacher,
        LMStudent(layers=(0,), trim_vocab=True),
        lmbda=0.5,
        steps=4,
        eval_every=4,
        max_new_tokens=6,
        seed=1,
    )
    assert 0 < trimmed.history["on_policy_batches"] < 4
    assert all(h["val_kl"] == h["val_kl"] for h in trimmed.history["val"])  # no NaN


def test_distilling_step_by_step_learns_answer_and_rationale(lm_teacher, lm_dataset, tmp_path):
    records = read_dataset(lm_dataset)
    for r in records:
        r.pop("logprobs", None)
        r["messages"][-1]["content"] = "because robots. So: " + r["messages"][-1]["content"]
    data = write_records(tmp_path / "cot.jsonl", records)
    rc = RationaleConfig(alpha=0.7, separator="So:")
    r = _run(data, tmp_path / "s", lm_teacher, LMStudent(layers=(0,)), method="sft", rationale=rc)
    assert read_meta(r.path)["task_prefix"] == "[label] "
    assert r.info["examples"]["examples"] == 2 * len([x for x in records if x["split"] == "train"])
    assert r.history["val"][-1]["val_nll"] < r.history["val"][0]["val_nll"]


# ---- bad input: each one exit 2 with one message --------------------------------------


def _exit2(exc_info) -> str:
    assert isinstance(exc_info.value, UsageError) and exc_info.value.exit_code == 2
    return str(exc_info.value)


def test_a_teacher_that_is_not_a_causal_lm(lm_dataset, tmp_path):
    from edgekd.models.hf import import_transformers

    import_transformers()
    from transformers import BertConfig

    d = tmp_path / "bert"
    cfg = BertConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8
    )
    cfg.architectures = ["BertForMaskedLM"]
    cfg.save_pretrained(d)
    with pytest.raises(ModelFileError) as e:
        distill_lm(lm_dataset, tmp_path / "s", teacher=f"hf:{d}", student=LMStudent(layers=(0,)))
    assert "teacher.model: hf:" in _exit2(e) and "not a causal language model" in str(e.value)


def test_a_student_with_another_tokenizer_for_a_token_level_loss(lm_teacher, lm_dataset, tmp_path):
    from tokenizers import pre_tokenizers

    from tests.completions.tiny_llm import build_tokenizer

    tok = build_tokenizer()
    tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    d = build_llama(tmp_path / "other", layers=1, tokenizer=tok)
    with pytest.raises(UsageError) as e:
        _run(lm_dataset, tmp_path / "s", lm_teacher, LMStudent(model=f"hf:{d}"))
    assert "teacher and student tokenizers differ: sample 0" in _exit2(e)
    assert "encodes differently at token 0" in str(e.value)


def test_a_dataset_without_assistant_turns(lm_teacher, tmp_path):
    rows = [{"messages": [{"role": "user", "content": f"hi {i}"}]} for i in range(12)]
    data = write_records(tmp_path / "users.jsonl", rows)
    with pytest.raises(DataError) as e:
        _run(data, tmp_path / "s", lm_teacher, LMStudent(layers=(0,)), method="sft")
    assert "users.jsonl:1: messages: no assistant turn" in _exit2(e)
    weight0 = [
        {
            "messages": [
                {"role": "user", "content": f"hi {i}"},
                {"role": "assistant", "content": "x", "weight": 0},
            ]
        }
        for i in range(30)
    ]
    data = write_records(tmp_path / "w0.jsonl", weight0)
    with pytest.raises(DataError) as e:
        _run(data, tmp_path / "s", lm_teacher, LMStudent(layers=(0,)), method="sft")
    assert "no record has an assistant turn to learn" in _exit2(e)


def test_a_context_length_above_the_models_maximum(lm_teacher, lm_dataset, tmp_path):
    with pytest.raises(RecipeError) as e:
        _run(lm_dataset, tmp_path / "s", lm_teacher, LMStudent(layers=(0,)), max_length=129)
    assert (
        "distill.lm.max_length: 129 tokens is above the student's maximum context of 128"
        in _exit2(e)
    )


def test_a_layer_outside_the_teacher(lm_teacher, lm_dataset, tmp_path):
    with pytest.raises(RecipeError) as e:
        _run(lm_dataset, tmp_path / "s", lm_teacher, LMStudent(layers=(0, 7)))
    assert "student.init_from_teacher.layers: layer 7 is outside the teacher's 4 layers" in _exit2(
        e
    )


def test_dataset_token_ids_of_another_tokenizer_are_refused(lm_teacher, lm_dataset, tmp_path):
    records = read_dataset(lm_dataset)
    for r in records:  # answers no longer match the teacher tokens the log-probs hold
        r["messages"][-1]["content"] = "something else entirely"
    data = write_records(tmp_path / "moved.jsonl", records)
    with pytest.raises(UsageError) as e:
        _run(data, tmp_path / "s", lm_teacher, LMStudent(layers=(0,)))
    assert "top_logprobs are token ids of another tokenizer" in _exit2(e)


def test_no_local_teacher_where_one_is_needed(lm_dataset, tmp_path):
    records = read_dataset(lm_dataset)
    for r in records:
        r.pop("logprobs", None)
    data = write_records(tmp_path / "plain.jsonl", records)
    d = build_llama(tmp_path / "fresh", layers=1, weights=False)
    with pytest.raises(RecipeError) as e:
        distill_lm(data, tmp_path / "s", student=LMStudent(model=f"hf:{d}"))
    assert "a local teacher (hf:DIR or hf:FILE.gguf) is needed: the dataset's records" in _exit2(e)
    json.dumps(e.value.args)  # one plain message
