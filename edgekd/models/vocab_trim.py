"""Vocabulary trimming: a student keeps only the tokens its training data uses.

The embedding table (and an untied output head) is most of a small LM's parameters: the
6-of-30-layer SmolLM2 student has 28 M of its 50 M parameters in the 49,152 x 576 table.
A trimmed student keeps the rows of the tokens occurring in the training sequences plus
every special token, in ascending order of their original ids (as in Abdaoui et al. 2020,
"Load What You Need: Smaller Versions of Multilingual BERT"; Ushio et al. 2023 for LMs).

The tokenizer is left as it is: it still produces the original ids. ``vocab_map.json``
(:class:`VocabMap`) maps them: ``kept[new_id] = old_id``. Everything that feeds or reads
the trimmed model goes through it: encode with the tokenizer, then :meth:`VocabMap.to_new`
(an old id the student lacks becomes ``unknown_id``, the tokenizer's unk token, else its
eos); decode with :meth:`VocabMap.to_old`, then the tokenizer. The model's config and
generation config carry new ids (bos/eos/pad are remapped).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekd.errors import ModelFileError

FILE = "vocab_map.json"
FORMAT = "edgekd.vocab_map.v1"


@dataclass(frozen=True)
class VocabMap:
    """``kept[new] = old`` for the ``len(kept)`` tokens of a trimmed model."""

    kept: np.ndarray  # int64 [n], ascending old ids
    source_vocab_size: int
    unknown_id: int  # new id an unknown old id maps to

    def __len__(self) -> int:
        return int(self.kept.shape[0])

    @property
    def old_to_new(self) -> np.ndarray:
        """int64 [source_vocab_size]: the new id of each old id, -1 where dropped."""
        table = np.full(self.source_vocab_size, -1, np.int64)
        table[self.kept] = np.arange(len(self.kept))
        return table

    def to_new(self, old_ids: Any) -> np.ndarray:
        """Old ids as new ids; dropped ones become ``unknown_id``."""
        old = np.asarray(old_ids, np.int64)
        new = self.old_to_new[np.clip(old, 0, self.source_vocab_size - 1)]
        return np.where((new < 0) | (old >= self.source_vocab_size), self.unknown_id, new)

    def to_old(self, new_ids: Any) -> np.ndarray:
        return self.kept[np.asarray(new_ids, np.int64)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "source_vocab_size": self.source_vocab_size,
            "unknown_id": self.unknown_id,
            "kept": self.kept.tolist(),
        }

    def save(self, directory: Path) -> Path:
        path = Path(directory) / FILE
        path.write_text(json.dumps(self.to_dict()), encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: Path) -> VocabMap | None:
        """The map saved in a student directory, or None when it was not trimmed."""
        path = Path(directory) / FILE
        if not path.is_file():
            return None
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            if d.get("format") != FORMAT:
                raise ValueError(f"format {d.get('format')!r}, expected {FORMAT!r}")
            kept = np.asarray(d["kept"], np.int64)
            vm = cls(kept, int(d["source_vocab_size"]), int(d["unknown_id"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelFileError(f"{path}: unreadable vocabulary map ({exc})") from None
        if kept.ndim != 1 or np.any(np.diff(kept) <= 0) or kept.min(initial=0) < 0:
            raise ModelFileError(f"{path}: kept ids must be ascending and non-negative")
        if len(kept) and kept.max() >= vm.source_vocab_size:
            raise ModelFileError(f"{path}: a kept id is outside the source vocabulary")
        if not 0 <= vm.unknown_id < len(kept):
            raise ModelFileError(f"{path}: unknown_id {vm.unknown_id} is not a kept token")
        return vm


def special_ids(tokenizer: Any) -> set[int]:
    """Every special and added token id of the tokenizer."""
    ids = {int(i) for i in getattr(tokenizer, "all_special_ids", []) if i is not None}
    for tok_id in getattr(tokenizer, "added_tokens_decoder", {}) or {}:
        ids.add(int(tok_id))
    return ids


def choose_kept(
    sequences: Iterable[np.ndarray], tokenizer: Any, vocab_size: int, extra: Iterable[int] = ()
) -> VocabMap:
    """The map keeping every id of ``sequences``, the tokenizer's specials and ``extra``."""
    used: set[int] = set(int(i) for i in extra)
    for s in sequences:
        used.update(np.unique(np.asarray(s)).tolist())
    used |= special_ids(tokenizer)
    kept = np.asarray(sorted(i for i in used if 0 <= i < vocab_size), np.int64)
    table = np.full(vocab_size, -1, np.int64)
    table[kept] = np.arange(len(kept))
    fallback = [tokenizer.unk_token_id, tokenizer.eos_token_id]
    unknown = next((int(table[i]) for i in fallback if i is not None and table[i] >= 0), 0)
    return VocabMap(kept, vocab_size, unknown)


def trim_model(model: Any, vmap: VocabMap) -> Any:
    """``model`` with only the kept rows of its embedding and output head (tied stays tied);
    config and generation config get the new vocabulary size and special ids. In place."""
    import torch
    from torch import nn

    kept = torch.as_tensor(vmap.kept)
    emb = model.get_input_embeddings()
    new_emb = nn.Embedding(len(kept), emb.weight.shape[1], dtype=emb.weight.dtype)
    new_emb.weight.data.copy_(emb.weight.data[kept])
    head = model.get_output_embeddings()
    tied = head is not None and head.weight is emb.weight
    model.set_input_embeddings(new_emb)
    if head is not None:
        if tied:
            head.weight = new_emb.weight
            head.out_features = len(kept)
        else:
            new_head = nn.Linear(
                head.in_features, len(kept), bias=head.bias is not None, dtype=head.weight.dtype
            )
            new_head.weight.data.copy_(head.weight.data[kept])
            if head.bias is not None:
                new_head.bias.data.copy_(head.bias.data[kept])
            model.set_output_embeddings(new_head)
    model.config.vocab_size = len(kept)
    for cfg in (model.config, getattr(model, "generation_config", None)):
        if cfg is None:
            continue
        for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
            v = getattr(cfg, key, None)
            if v is None:
                continue
            if isinstance(v, int):
                setattr(cfg, key, int(vmap.to_new([v])[0]))
            else:
                setattr(cfg, key, [int(x) for x in vmap.to_new(list(v))])
    return model
