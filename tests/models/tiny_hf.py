"""Tiny transformers classifiers saved as model directories, built from configs (no download):
a 4-layer BERT with a word-level tokenizer made from the test's texts, and a 2-layer ViT with
its image processor."""

from __future__ import annotations

from pathlib import Path

TEXTS = [
    "the cat sat on the mat",
    "a dog ran in the park",
    "hello there how are you",
    "the weather is cold today",
    "my phone battery is empty",
    "please play some music now",
]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]


def word_tokenizer(texts: list[str]):
    """A word-level tokenizer whose vocabulary is the words of ``texts``."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    from edgekd.models.hf import import_transformers

    transformers = import_transformers()
    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for text in texts:
        for word in text.lower().split():
            vocab.setdefault(word, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        model_max_length=32,
    )


def bert_dir(
    path: Path,
    num_labels: int | None = 3,
    layers: int = 4,
    texts: list[str] = TEXTS,
    seed: int = 0,
) -> Path:
    """A BERT classifier (``num_labels``) or, with ``None``, a base ``BertModel`` without a
    head (like a sentence-embedding checkpoint), plus its tokenizer."""
    import torch

    from edgekd.models.hf import import_transformers

    transformers = import_transformers()
    tok = word_tokenizer(texts)
    cfg = transformers.BertConfig(
        vocab_size=len(tok),
        hidden_size=16,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=num_labels or 2,
    )
    torch.manual_seed(seed)
    if num_labels is None:
        model = transformers.BertModel(cfg)
    else:
        model = transformers.BertForSequenceClassification(cfg)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def vit_dir(
    path: Path,
    image_size: int = 16,
    num_labels: int = 4,
    layers: int = 2,
    weights: bool = True,
    channels: int = 3,
) -> Path:
    """A ViT image classifier and its image processor (``weights=False``: config only)."""
    import torch

    from edgekd.models.hf import import_transformers

    transformers = import_transformers()
    cfg = transformers.ViTConfig(
        image_size=image_size,
        patch_size=4,
        num_channels=channels,
        hidden_size=16,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=num_labels,
    )
    torch.manual_seed(0)
    path.mkdir(parents=True, exist_ok=True)
    if weights:
        transformers.ViTForImageClassification(cfg).save_pretrained(path)
    else:
        cfg.save_pretrained(path)
    transformers.ViTImageProcessor(
        size={"height": image_size, "width": image_size},
        image_mean=[0.5] * channels,
        image_std=[0.25] * channels,
    ).save_pretrained(path)
    return path
