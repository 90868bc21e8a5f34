"""Tiny data made at test time: image folders, labelled text files, a word-level tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

WORDS = {
    "weather": "rain sun cloud wind storm snow warm cold forecast sky",
    "food": "pizza bread apple soup cheese pasta rice salad cake tea",
    "sport": "ball goal team match run swim score coach race game",
}


def labelled_texts(n_per_class: int = 20, seed: int = 0) -> list[tuple[str, str]]:
    """Short texts whose words tell their class (with some shared filler words)."""
    rng = np.random.default_rng(seed)
    out = []
    for label, words in WORDS.items():
        vocab = words.split()
        for _ in range(n_per_class):
            k = int(rng.integers(3, 8))
            text = " ".join([*rng.choice(vocab, k), *rng.choice(["the", "a", "is", "we"], 2)])
            out.append((text, label))
    order = rng.permutation(len(out))
    return [out[i] for i in order]


def write_jsonl(path: Path, rows: list[tuple[str, str]], text: str = "text", label: str = "label"):
    with open(path, "w", encoding="utf-8") as f:
        for t, y in rows:
            f.write(json.dumps({text: t, label: y}) + "\n")
    return path


def word_tokenizer(texts: list[str], path: Path) -> Path:
    """A word-level tokenizer (lowercase, whitespace split) over ``texts``, saved as a
    Hugging Face tokenizer directory."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"])
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
        sep_token="[SEP]",
    )  # fmt: skip
    fast.save_pretrained(str(path))
    return path


def image_folder(root: Path, classes: int = 3, per_class: int = 6, size: int = 40) -> Path:
    """``root/c<k>/<i>.png``: each class a different dominant color, with noise."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(classes):
        d = root / f"c{c}"
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            base = np.zeros((size, size, 3), np.float32)
            base[..., c % 3] = 200
            pixels = np.clip(base + rng.normal(0, 30, base.shape), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(d / f"{i}.png")
    return root
