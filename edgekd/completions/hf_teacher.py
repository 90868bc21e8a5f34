"""``hf:PATH``: a local ``transformers`` causal LM as a teacher (a directory or a GGUF file).

A GGUF file is loaded through transformers' gguf loader (``from_pretrained(dir,
gguf_file=name)``), which dequantizes the weights to float32 and builds the tokenizer, with
its chat template, from the file's metadata. Prompts are rendered with the tokenizer's chat
template and generated in batches with left padding (decoder-only models continue from the
right end). Greedy decoding when the temperature is 0. Log-probs are taken from the raw
logits (``output_logits``), i.e. the model's distribution at temperature 1, like the OpenAI
API reports them. The answer's positions include the end-of-turn token when the model
stopped by itself (``finish_reason == "stop"``), because a student must learn to stop too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from edgekd.completions.teacher_types import Outcome, Settings
from edgekd.errors import ModelFileError, UsageError, require


def fingerprint(path: Path) -> str:
    """Short content hash of the weights (a GGUF file, or a directory's config + weights).

    The teacher's id is ``hf:NAME@HASH``, so records stay keyed to the same weights wherever
    the file lives.
    """
    h = hashlib.sha256()
    files = (
        [path]
        if path.is_file()
        else sorted(
            p for p in path.iterdir() if p.suffix in (".json", ".safetensors", ".bin", ".gguf")
        )
    )
    for f in files:
        h.update(f.name.encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()[:12]


def _check_gguf(path: Path) -> None:
    gguf = require("gguf", "llm")
    try:
        gguf.GGUFReader(str(path))
    except Exception as exc:  # the reader raises ValueError/struct errors/OSError
        raise ModelFileError(f"{path}: not a readable GGUF file ({exc})") from None


def check_model_path(path: Path) -> None:
    """Cheap checks before loading: the path exists and is a model directory or a GGUF."""
    if not path.exists():
        raise ModelFileError(f"{path}: no such file or directory (expected hf:DIR or hf:FILE.gguf)")
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ModelFileError(f"{path}: expected a transformers directory or a .gguf file")
        _check_gguf(path)
    elif not (path / "config.json").exists():
        raise ModelFileError(f"{path}: not a transformers model directory (no config.json)")


def load_model(path: Path) -> tuple[Any, Any]:
    """(model, tokenizer) from a transformers directory or a GGUF file, in eval mode."""
    from edgekd.models.hf import import_transformers

    transformers = import_transformers()  # offline; torchvision first when it is installed
    check_model_path(path)
    kwargs: dict[str, Any] = {}
    where = path
    if path.is_file():
        where, kwargs = path.parent, {"gguf_file": path.name}
    try:
        tok = transformers.AutoTokenizer.from_pretrained(str(where), **kwargs)
        model = transformers.AutoModelForCausalLM.from_pretrained(str(where), **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelFileError(f"{path}: cannot load as a causal LM ({exc})") from None
    model.eval()
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model, tok


class HFTeacher:
    """Batched local generation with top-k log-probs (see the module docstring)."""

    def __init__(self, path: Path, *, batch_size: int = 8) -> None:
        self.path = Path(path)
        check_model_path(self.path)
        self.id = f"hf:{self.path.name}@{fingerprint(self.path)}"
        self.batch_size = batch_size
        self.concurrency = 1
        self._loaded: tuple[Any, Any, set[int]] | None = None

    def _load(self) -> tuple[Any, Any, set[int]]:
        """The model is loaded on first use, so a resumed run with nothing left is instant."""
        if self._loaded is None:
            model, tok = load_model(self.path)
            self._loaded = (model, tok, _eos_ids(model, tok))
        return self._loaded

    def load(self) -> None:
        self._load()

    @property
    def model(self) -> Any:
        return self._load()[0]

    @property
    def tokenizer(self) -> Any:
        return self._load()[1]

    @property
    def eos_ids(self) -> set[int]:
        return self._load()[2]

    def render(self, messages: list[dict[str, Any]]) -> str:
        turns = [{"role": m["role"], "content": m.get("content") or ""} for m in messages]
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(
                turns, add_generation_prompt=True, tokenize=False
            )
        # a base model without a template: the turns as plain text
        return "".join(f"{t['role']}: {t['content']}\n" for t in turns) + "assistant: "

    def complete(self, prompts: list[list[dict[str, Any]]], settings: Settings) -> list[Outcome]:
        import numpy as np
        import torch

        from edgekd.completions import logprobs as lp

        enc = self.tokenizer(
            [self.render(p) for p in prompts],
            return_tensors="pt",
            padding=True,
            add_special_tokens=False,
        )
        gen: dict[str, Any] = {
            "max_new_tokens": settings.max_tokens,
            "return_dict_in_generate": True,
            "output_logits": True,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": sorted(self.eos_ids),
        }
        if settings.temperature > 0:
            gen.update(do_sample=True, temperature=settings.temperature, top_k=0, top_p=1.0)
            torch.manual_seed(settings.seed or 0)
        else:
            gen.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            out = self.model.generate(**enc, **gen)
        width = enc["input_ids"].shape[1]
        new = out.sequences[:, width:]
        logits = torch.stack(out.logits, dim=1).float().numpy()  # [B, steps, V]
        results = []
        for b in range(len(prompts)):
            ids = new[b].tolist()
            stop = next((i for i, t in enumerate(ids) if t in self.eos_ids), None)
            n = len(ids) if stop is None else stop + 1
            text = self.tokenizer.decode(
                ids[: n if stop is None else stop], skip_special_tokens=True
            )
            topk = None
            if settings.top_logprobs > 0:
                topk = lp.encode(
                    lp.from_logits(logits[b, :n], np.asarray(ids[:n]), settings.top_logprobs)
                )
            results.append(
                Outcome(
                    answer=text.strip(),
                    finish_reason="length" if stop is None else "stop",
                    logprobs=topk,
                    completion_tokens=n,
                    prompt_tokens=int(enc["attention_mask"][b].sum()),
                    model=self.id,
                )
            )
        return results


def _eos_ids(model: Any, tok: Any) -> set[int]:
    ids: set[int] = set()
    for v in (getattr(model.generation_config, "eos_token_id", None), tok.eos_token_id):
        if isinstance(v, int):
            ids.add(v)
        elif v:
            ids.update(int(x) for x in v)
    if not ids:
        raise UsageError("the model has no end-of-sequence token; it cannot say when to stop")
    return ids
