"""The directory an exported language model ships in, and the sidecar that describes it.

``edgekd export-lm`` writes one directory: the exported files (``model.onnx``,
``model.fp32.tflite``, ``model.dynamic_int8.tflite``, ...), the tokenizer (Hugging Face
files), ``vocab_map.json`` when the student's vocabulary was trimmed, and
``edgekd_lm_export.json``: the model's shape (layers, KV heads, head size, vocabulary,
maximum context) and, per file, its format, precision, cache length, signatures and the
parity result against the torch parent. ``edgekd generate`` and ``edgekd profile`` read it,
so a file is run and judged with the numbers it was exported with.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgekd.errors import ModelFileError

SIDECAR = "edgekd_lm_export.json"
SCHEMA = "edgekd.lm_export/1"


@dataclass(frozen=True)
class LMShape:
    """The numbers of a decoder-only transformer that size its weights and KV cache."""

    model_type: str
    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab_size: int
    max_context: int | None
    params: int
    eos_token_id: int | None = None
    tied_embeddings: bool = False

    @classmethod
    def of(cls, model: Any) -> LMShape:
        """From a ``transformers`` causal LM (its config and parameters)."""
        from edgekd.models.causal_lm import count_params, max_context

        c = model.config
        heads = int(c.num_attention_heads)
        head_dim = int(getattr(c, "head_dim", None) or c.hidden_size // heads)
        eos = getattr(model.generation_config, "eos_token_id", None) or c.eos_token_id
        if isinstance(eos, list):
            eos = eos[0] if eos else None
        return cls(
            model_type=str(c.model_type),
            layers=int(c.num_hidden_layers),
            hidden=int(c.hidden_size),
            intermediate=int(getattr(c, "intermediate_size", 4 * c.hidden_size)),
            heads=heads,
            kv_heads=int(getattr(c, "num_key_value_heads", None) or heads),
            head_dim=head_dim,
            vocab_size=int(c.vocab_size),
            max_context=max_context(model),
            params=count_params(model),
            eos_token_id=None if eos is None else int(eos),
            tied_embeddings=bool(getattr(c, "tie_word_embeddings", False)),
        )


def write_sidecar(out_dir: Path, shape: LMShape, source: str, files: dict[str, Any]) -> Path:
    """``edgekd_lm_export.json`` in ``out_dir`` (merged with the files already listed)."""
    from edgekd.fileio import atomic_write_text

    path = Path(out_dir) / SIDECAR
    old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    merged = {**old.get("files", {}), **files}
    doc = {"schema": SCHEMA, "source": source, "shape": asdict(shape), "files": merged}
    atomic_write_text(path, json.dumps(doc, indent=2, sort_keys=True))
    return path


def read_sidecar(model_file: Path) -> dict[str, Any] | None:
    """The sidecar next to ``model_file`` when it lists that file (None for any other model)."""
    path = Path(model_file).parent / SIDECAR
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ModelFileError(f"{path}: unreadable ({exc})") from None
    if doc.get("schema") != SCHEMA or Path(model_file).name not in doc.get("files", {}):
        return None
    return doc


def shape_of(doc: dict[str, Any]) -> LMShape:
    return LMShape(**doc["shape"])


def entry(doc: dict[str, Any], model_file: Path) -> dict[str, Any]:
    """The sidecar's record of one exported file."""
    return dict(doc["files"][Path(model_file).name])
