"""``hf:PATH`` as a causal language model (``task: causal_lm``): a local ``transformers``
directory, or a GGUF file through transformers' gguf loader (which dequantizes the weights to
float32 and rebuilds the tokenizer and chat template from the file's metadata).

Students are built three ways: a directory with only ``config.json`` (and tokenizer files)
is a config-built model with fresh weights; a directory with weights is loaded; and
:func:`layer_subset` takes some of the teacher's decoder layers (DistilBERT-style, Sanh et
al. 2019: student layer ``j`` starts as teacher layer ``layers[j]``, embeddings, final norm
and head copied). A student is saved by :func:`save_student` as a Hugging Face directory
(``config.json``, ``model.safetensors``, ``generation_config.json``, tokenizer files) plus
``vocab_map.json`` when its vocabulary was trimmed (``edgekd.models.vocab_trim``) and
``edgekd_lm.json`` (how it was made, and a task prefix its prompts need, if any).
Nothing is ever downloaded: the hub is switched off before transformers loads.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from edgekd.errors import ModelFileError, RecipeError, require

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
META_FILE = "edgekd_lm.json"
CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")


def transformers_offline() -> Any:
    """``import transformers`` with the hub switched off (``edgekd.models.hf``)."""
    from edgekd.models.hf import import_transformers

    return import_transformers()


def check_path(path: Path, where: str = "model") -> None:
    """A directory with ``config.json`` or a readable ``.gguf`` file, else ``ModelFileError``."""
    if not path.exists():
        raise ModelFileError(f"{where}: hf:{path}: no such file or directory")
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ModelFileError(
                f"{where}: hf:{path}: expected a transformers directory or a .gguf file"
            )
        gguf = require("gguf", "llm")
        try:
            gguf.GGUFReader(str(path))
        except Exception as exc:  # the reader raises ValueError/struct errors/OSError
            raise ModelFileError(f"{where}: hf:{path}: not a readable GGUF file ({exc})") from None
        return
    if not (path / "config.json").is_file():
        raise ModelFileError(
            f"{where}: hf:{path}: not a transformers model directory (no config.json)"
        )
    check_causal(path, where)


def check_causal(path: Path, where: str = "model") -> None:
    """The directory's config names a causal LM: an architecture ending in ``ForCausalLM`` /
    ``LMHeadModel``, or (no architectures saved) a decoder model type."""
    try:
        cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{where}: hf:{path}: unreadable config.json ({exc})") from None
    archs = [str(a) for a in cfg.get("architectures") or []]
    transformers_offline()
    if archs:
        if any(a.endswith(CAUSAL_SUFFIXES) for a in archs):
            return
        raise ModelFileError(
            f"{where}: hf:{path}: {', '.join(archs)} is not a causal language model "
            "(task: causal_lm needs a ...ForCausalLM directory)"
        )
    from transformers.models.auto import modeling_auto as auto

    model_type = str(cfg.get("model_type", ""))
    if (
        model_type in auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
        and model_type not in auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES
    ):
        return
    raise ModelFileError(
        f"{where}: hf:{path}: model type {model_type!r} is not a causal language model "
        "(task: causal_lm needs a decoder such as llama, qwen2, gpt2)"
    )


def has_weights(path: Path) -> bool:
    return path.is_file() or any((path / f).is_file() for f in WEIGHT_FILES)


def load_tokenizer(path: Path, where: str = "model") -> Any:
    transformers = transformers_offline()
    kwargs: dict[str, Any] = {}
    where_dir = path
    if path.is_file():
        where_dir, kwargs = path.parent, {"gguf_file": path.name}
    try:
        tok = transformers.AutoTokenizer.from_pretrained(str(where_dir), **kwargs)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{where}: hf:{path}: no readable tokenizer ({exc})") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(path: Path, where: str = "model") -> tuple[Any, Any, dict[str, Any]]:
    """(model in float32 eval mode, tokenizer, info). A directory without weights builds the
    model from its config with fresh weights (``info["weights"] == "config"``)."""
    import torch

    transformers = transformers_offline()
    check_path(path, where)
    tok = load_tokenizer(path, where)
    info: dict[str, Any] = {"model": f"hf:{path}"}
    try:
        if path.is_file():
            model = transformers.AutoModelForCausalLM.from_pretrained(
                str(path.parent), gguf_file=path.name, dtype=torch.float32
            )
            info["weights"] = "gguf"
        elif has_weights(path):
            model = transformers.AutoModelForCausalLM.from_pretrained(
                str(path), dtype=torch.float32
            )
            info["weights"] = "directory"
        else:
            config = transformers.AutoConfig.from_pretrained(str(path))
            model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
            info["weights"] = "config"
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelFileError(f"{where}: hf:{path}: cannot load as a causal LM ({first})") from None
    model.eval()
    info["params"] = count_params(model)
    return model, tok, info


def count_params(model: Any) -> int:
    """Parameters, a tied embedding/head counted once."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def max_context(model: Any) -> int | None:
    """The model's maximum context length (``max_position_embeddings``), if it states one."""
    n = getattr(model.config, "max_position_embeddings", None)
    return int(n) if n else None


def check_context(model: Any, max_length: int, field: str, name: str) -> None:
    limit = max_context(model)
    if limit is not None and max_length > limit:
        raise RecipeError(
            f"{field}: {max_length} tokens is above the {name}'s maximum context of {limit} "
            f"(max_position_embeddings); use at most {limit}"
        )


def layer_subset(teacher: Any, layers: list[int], field: str) -> Any:
    """A copy of ``teacher`` with only ``layers`` (in this order; ``copy_layers`` of
    ``edgekd.models.layer_subset``); an index outside the teacher or repeated is a
    ``RecipeError``."""
    import torch

    from edgekd.models.layer_subset import check_layer_indices, copy_layers

    n = int(teacher.config.num_hidden_layers)
    check_layer_indices(layers, n, field)
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = len(layers)
    for key in ("layer_types",):  # per-layer lists (sliding/full attention) follow the layers
        value = getattr(config, key, None)
        if isinstance(value, list) and len(value) == n:
            setattr(config, key, [value[i] for i in layers])
    transformers = transformers_offline()
    student = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    copy_layers(teacher, student, list(layers))
    student.generation_config = copy.deepcopy(teacher.generation_config)
    return student.eval()


def save_student(
    model: Any,
    tokenizer: Any,
    out: Path,
    meta: dict[str, Any],
    vocab_map: Any = None,
) -> Path:
    """The student as a Hugging Face directory (module docstring); written into a temporary
    sibling and renamed, so a crash never leaves a half directory that looks whole."""
    import shutil

    out = Path(out)
    tmp = out.with_name(out.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    if vocab_map is not None:
        vocab_map.save(tmp)
    (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def read_meta(path: Path) -> dict[str, Any]:
    """``edgekd_lm.json`` of a saved student ({} for any other directory)."""
    f = Path(path) / META_FILE
    return json.loads(f.read_text(encoding="utf-8")) if f.is_file() else {}
