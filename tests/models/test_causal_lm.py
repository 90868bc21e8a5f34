"""Causal-LM models: loading hf:DIR and GGUF, layer subsets, vocabulary trimming, the
tokenizer check, and the bad inputs that exit 2."""

import json

import numpy as np
import pytest
import torch

from edgekd.errors import ModelFileError, RecipeError
from edgekd.models.causal_lm import (
    check_context,
    count_params,
    layer_subset,
    load_causal_lm,
    read_meta,
    save_student,
)
from edgekd.models.tokenizer_check import TokenizerMismatch, check_same_tokenizer
from edgekd.models.vocab_trim import VocabMap, choose_kept, trim_model
from tests.completions.tiny_llm import build_tokenizer, write_gguf
from tests.lm_fixtures import build_llama


def _ids(n=2, length=12, vocab=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (n, length), generator=g)


def test_layer_subset_copies_the_chosen_layers(lm_teacher):
    teacher, _, info = load_causal_lm(lm_teacher)
    assert info["weights"] == "directory"
    same = layer_subset(teacher, [0, 1, 2, 3], "f")
    x = _ids()
    with torch.no_grad():
        assert torch.allclose(same(x).logits, teacher(x).logits, atol=1e-5)
    sub = layer_subset(teacher, [3, 1], "f")
    assert sub.config.num_hidden_layers == 2
    t_sd, s_sd = teacher.state_dict(), sub.state_dict()
    assert torch.equal(
        s_sd["model.layers.0.mlp.up_proj.weight"], t_sd["model.layers.3.mlp.up_proj.weight"]
    )
    assert torch.equal(
        s_sd["model.layers.1.self_attn.q_proj.weight"],
        t_sd["model.layers.1.self_attn.q_proj.weight"],
    )
    assert torch.equal(s_sd["lm_head.weight"], t_sd["lm_head.weight"])
    assert count_params(sub) < count_params(teacher)


def test_a_layer_outside_the_teacher_or_repeated_is_refused(lm_teacher):
    teacher, _, _ = load_causal_lm(lm_teacher)
    field = "student.init_from_teacher.layers"
    with pytest.raises(RecipeError, match=f"{field}: layer 4 is outside the teacher's 4 layers"):
        layer_subset(teacher, [0, 4], field)
    with pytest.raises(RecipeError, match="repeats a layer"):
        layer_subset(teacher, [1, 1], field)


def test_a_config_only_directory_builds_fresh_weights(tmp_path):
    d = build_llama(tmp_path / "cfg", layers=2, weights=False)
    model, tok, info = load_causal_lm(d)
    assert info["weights"] == "config" and model.config.num_hidden_layers == 2
    assert tok.eos_token == "<|im_end|>"


def test_a_gguf_file_loads_through_transformers(lm_teacher, tmp_path):
    gguf = write_gguf(lm_teacher, tmp_path / "t.gguf")
    model, tok, info = load_causal_lm(gguf)
    ref, _, _ = load_causal_lm(lm_teacher)
    x = _ids()
    with torch.no_grad():
        assert torch.allclose(model(x).logits, ref(x).logits, atol=1e-4)
    assert info["weights"] == "gguf" and len(tok) == 300


def test_a_directory_that_is_not_a_causal_lm_is_refused(tmp_path):
    from edgekd.models.hf import import_transformers

    import_transformers()
    from transformers import BertConfig

    d = tmp_path / "bert"
    cfg = BertConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8
    )
    cfg.architectures = ["BertForSequenceClassification"]
    cfg.save_pretrained(d)
    with pytest.raises(ModelFileError, match="BertForSequenceClassification is not a causal"):
        load_causal_lm(d, "teacher.model")
    cfg.architectures = None
    cfg.save_pretrained(d)
    with pytest.raises(ModelFileError, match="model type 'bert' is not a causal language model"):
        load_causal_lm(d, "teacher.model")
    with pytest.raises(ModelFileError, match="no config.json"):
        load_causal_lm(tmp_path, "teacher.model")
    (tmp_path / "x.gguf").write_bytes(b"not a gguf")
    with pytest.raises(ModelFileError, match="not a readable GGUF"):
        load_causal_lm(tmp_path / "x.gguf")


def test_a_context_above_the_models_maximum_is_refused(lm_teacher):
    model, _, _ = load_causal_lm(lm_teacher)
    check_context(model, 128, "distill.lm.max_length", "student")
    with pytest.raises(
        RecipeError,
        match="distill.lm.max_length: 129 tokens is above the student's maximum context of 128",
    ):
        check_context(model, 129, "distill.lm.max_length", "student")


def test_trimming_keeps_the_logits_of_kept_tokens_and_saves_the_map(lm_teacher, tmp_path):
    model, tok, _ = load_causal_lm(lm_teacher)
    seqs = [np.array([10, 11, 12, 40, 41]), np.array([40, 50, 60])]
    vmap = choose_kept(seqs, tok, 300)
    specials = {tok.bos_token_id, tok.eos_token_id, tok.unk_token_id}
    assert set(vmap.kept.tolist()) == {10, 11, 12, 40, 41, 50, 60} | specials
    x_old = torch.tensor([[10, 40, 11, 60, 12]])
    with torch.no_grad():
        full = model(x_old).logits
    trimmed = trim_model(model, vmap)
    with torch.no_grad():
        small = trimmed(torch.as_tensor(vmap.to_new(x_old.numpy()))).logits
    assert small.shape[-1] == len(vmap)
    assert torch.allclose(small, full[..., torch.as_tensor(vmap.kept)], atol=1e-5)
    assert trimmed.config.eos_token_id == int(vmap.to_new([tok.eos_token_id])[0])
    assert vmap.to_new([299])[0] == vmap.unknown_id == vmap.to_new([tok.unk_token_id])[0]
    assert vmap.to_old(vmap.to_new([60, 10])).tolist() == [60, 10]
    out = save_student(trimmed, tok, tmp_path / "student", {"format": "x"}, vmap)
    assert read_meta(out) == {"format": "x"}
    back = VocabMap.load(out)
    assert back is not None and back.kept.tolist() == vmap.kept.tolist()
    reloaded, _, _ = load_causal_lm(out)
    assert reloaded.config.vocab_size == len(vmap)
    assert not (tmp_path / "student.part").exists()


def test_a_corrupt_vocabulary_map_is_refused(tmp_path):
    (tmp_path / "vocab_map.json").write_text(
        json.dumps(
            {
                "format": "edgekd.vocab_map.v1",
                "source_vocab_size": 5,
                "unknown_id": 0,
                "kept": [3, 1],
            }
        )
    )
    with pytest.raises(ModelFileError, match="ascending"):
        VocabMap.load(tmp_path)
    assert VocabMap.load(tmp_path / "nothing-here") is None


def test_tokenizer_check_names_the_first_difference():
    a, b = build_tokenizer(), build_tokenizer()
    check_same_tokenizer(a, b, ["hello how are you"], "distill.lm")
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from edgekd.models.hf import import_transformers

    import_transformers()
    from transformers import PreTrainedTokenizerFast

    other = Tokenizer(models.BPE())
    other.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    other.train_from_iterator(["zebra quartz vexing jumps"] * 30, trainer)
    c = PreTrainedTokenizerFast(
        tokenizer_object=other,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        unk_token="<|endoftext|>",
    )
    with pytest.raises(
        TokenizerMismatch,
        match=r"distill.lm: teacher and student tokenizers differ: "
        r"(vocabulary sizes|token id \d+ differs)",
    ):
        check_same_tokenizer(a, c, ["hello"], "distill.lm")
    d = build_tokenizer()
    d.eos_token = "<|endoftext|>"
    with pytest.raises(TokenizerMismatch, match="special token eos_token differs"):
        check_same_tokenizer(a, d, [], "distill.lm")


def test_tokenizer_check_compares_encodings_of_samples():
    from tokenizers import pre_tokenizers

    a, b = build_tokenizer(), build_tokenizer()
    b.backend_tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    with pytest.raises(
        TokenizerMismatch, match="sample 0 'hello how' encodes differently at token 0"
    ):
        check_same_tokenizer(a, b, ["hello how"], "distill.lm")
