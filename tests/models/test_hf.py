"""``hf:DIR``: transformers classifiers from local directories (tiny, built from configs)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from edgekd.errors import ModelFileError, RecipeError
from edgekd.models.config import StudentConfig, TeacherConfig
from edgekd.models.create import create_model
from edgekd.models.hf import load_tokenizer, preprocessing
from tests.models.tiny_hf import TEXTS, bert_dir, vit_dir


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return bert_dir(tmp_path_factory.mktemp("bert") / "bert")


def test_text_classifier_keeps_its_head_and_its_tokenizer(bert):
    made = create_model(TeacherConfig(model=f"hf:{bert}"), "teacher", (8,), 3)
    assert made.spec.options["task"] == "text" and made.trained_head
    tok = load_tokenizer(bert)
    enc = tok(TEXTS[:2], padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = made.model(enc["input_ids"], enc["attention_mask"])
        direct = made.model.model(**enc).logits  # the wrapper returns transformers' logits
    assert logits.shape == (2, 3) and torch.equal(logits, direct)
    assert "[UNK]" not in tok.convert_ids_to_tokens(enc["input_ids"][0])  # words of the texts
    assert preprocessing(bert) == {"kind": "text", "tokenizer": str(bert), "max_length": 32}


def test_other_class_count_or_base_model_gets_a_new_head(bert, tmp_path):
    made = create_model(TeacherConfig(model=f"hf:{bert}"), "teacher", (8,), 5)
    assert not made.trained_head and made.info["head_reset"]
    base = bert_dir(tmp_path / "base", num_labels=None)
    made = create_model(TeacherConfig(model=f"hf:{base}"), "teacher", (8,), 3)
    assert not made.trained_head
    # the encoder's weights are the directory's, under the classifier's prefix
    from safetensors.torch import load_file

    saved = load_file(str(base / "model.safetensors"))
    key = next(k for k in saved if k.endswith("word_embeddings.weight"))
    emb = made.model.model.bert.embeddings.word_embeddings.weight
    assert torch.equal(emb, saved[key])


def test_image_classifier_with_processor_and_other_input_size(tmp_path):
    vit = vit_dir(tmp_path / "vit", image_size=16, num_labels=4)
    pre = preprocessing(vit)
    assert pre == {"kind": "image", "image_size": [16, 16], "mean": [0.5] * 3, "std": [0.25] * 3}
    same = create_model(TeacherConfig(model=f"hf:{vit}"), "teacher", (3, 16, 16), 4)
    assert same.spec.options["task"] == "image" and same.trained_head
    # another size: position encodings are interpolated, the weights stay the directory's
    big = create_model(TeacherConfig(model=f"hf:{vit}"), "teacher", (3, 32, 32), 4)
    assert big.spec.options["interpolate_pos_encoding"] is True
    assert big.model(torch.zeros(2, 3, 32, 32)).shape == (2, 4)
    # a config-only directory builds a fresh model for the data's size and channels
    cfg_only = vit_dir(tmp_path / "cfg", weights=False)
    fresh = create_model(StudentConfig(model=f"hf:{cfg_only}"), "student", (1, 8, 8), 3)
    assert "weights_from" not in fresh.info
    assert fresh.model(torch.zeros(2, 1, 8, 8)).shape == (2, 3)


def test_a_directory_without_config_json_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match=r"student.model: hf:.*has no config.json"):
        create_model(StudentConfig(model=f"hf:{tmp_path / 'empty'}"), "student", (8,), 3)


def test_init_from_teacher_takes_every_other_layer(bert):
    made = create_model(TeacherConfig(model=f"hf:{bert}"), "teacher", (8,), 3)
    teacher = SimpleNamespace(spec=made.spec, module=made.model)
    cfg = StudentConfig(init_from_teacher={"layers": [0, 2]})
    student = create_model(cfg, "student", (8,), 3, teacher=teacher)
    s, t = student.model.model.bert, made.model.model.bert
    assert len(s.encoder.layer) == 2 and len(t.encoder.layer) == 4
    for j, i in enumerate([0, 2]):
        for a, b in zip(
            s.encoder.layer[j].parameters(), t.encoder.layer[i].parameters(), strict=True
        ):
            assert torch.equal(a, b)
    assert torch.equal(s.embeddings.word_embeddings.weight, t.embeddings.word_embeddings.weight)
    assert torch.equal(student.model.model.classifier.weight, made.model.model.classifier.weight)
    assert student.info["init_from_teacher"] == {"layers": [0, 2], "teacher_layers": 4}
    n_student = sum(p.numel() for p in student.model.parameters())
    assert n_student < sum(p.numel() for p in made.model.parameters())
    # the spec rebuilds the 2-layer architecture (what a run directory reloads)
    from edgekd.models.spec import ModelSpec, build

    rebuilt = build(ModelSpec.from_dict(student.spec.to_dict()))
    rebuilt.load_state_dict(student.model.state_dict())


def test_init_from_teacher_refuses_layers_outside_the_teacher(bert):
    made = create_model(TeacherConfig(model=f"hf:{bert}"), "teacher", (8,), 3)
    teacher = SimpleNamespace(spec=made.spec, module=made.model)
    bad = StudentConfig(init_from_teacher={"layers": [0, 4]})
    with pytest.raises(RecipeError, match=r"layers: layer 4 is outside the teacher's 4 layers"):
        create_model(bad, "student", (8,), 3, teacher=teacher)
    twice = StudentConfig(init_from_teacher={"layers": [1, 1]})
    with pytest.raises(RecipeError, match="repeats a layer"):
        create_model(twice, "student", (8,), 3, teacher=teacher)
    zoo_teacher = SimpleNamespace(spec=None, module=torch.nn.Linear(2, 2))
    with pytest.raises(RecipeError, match="needs a transformers teacher"):
        create_model(
            StudentConfig(init_from_teacher={"layers": [0]}),
            "student",
            (8,),
            3,
            teacher=zoo_teacher,
        )


def test_hooks_reach_transformer_layers_and_suggest_the_wrapped_path(bert):
    from edgekd.distill.hooks import FeatureHooks, resolve_module

    model = create_model(TeacherConfig(model=f"hf:{bert}"), "teacher", (8,), 3).model
    ids = torch.tensor(np.arange(4, 10)[None].repeat(2, 0))
    with FeatureHooks(model, ["model.bert.encoder.layer.1", "model.bert"]) as hooks:
        model(ids)
    assert hooks.features["model.bert.encoder.layer.1"].shape == (2, 6, 16)
    assert hooks.features["model.bert"].shape == (2, 6, 16)  # a ModelOutput's hidden state
    with pytest.raises(RecipeError, match=r"did you mean model\.bert\.encoder\.layer\.1"):
        resolve_module(model, "bert.encoder.layer.1", "distill.rkd.teacher_layer")
