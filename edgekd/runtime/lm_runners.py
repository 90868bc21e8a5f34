"""Step a language model with its KV cache: the torch parent, an ONNX file (onnxruntime) or a
TFLite file (LiteRT), all behind one small protocol so parity checks and ``edgekd
generate`` run the same loop on each.

A runner keeps its own cache and position. ``prefill(ids)`` feeds a prompt and returns the
logits of its last position; ``decode(id)`` feeds one token and returns its logits. Ids are
the model's own (after a trimmed vocabulary's map). Logits are float32 numpy arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgekd.errors import ModelFileError, UsageError, require

MASKED = float(np.finfo(np.float32).min) / 2  # additive mask value (litert-torch's convention)


class LMRunner(Protocol):
    name: str
    max_context: int | None
    signatures: tuple[str, ...]

    def reset(self) -> None: ...

    def prefill(self, ids: Sequence[int]) -> np.ndarray: ...

    def decode(self, token: int) -> np.ndarray: ...


def cache_kwarg(model: Any) -> str:
    """``cache`` (transformers >= 5.24) or ``past_key_values`` (earlier releases)."""
    import inspect

    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def output_cache(out: Any) -> Any:
    """The cache a forward pass returns (``cache`` or ``past_key_values``)."""
    cache = out.get("cache") if hasattr(out, "get") else None
    return cache if cache is not None else out.past_key_values


def check_room(runner: LMRunner, pos: int, n: int) -> None:
    """Refuse to go past the runner's context (the TFLite cache length, the model's maximum)."""
    if runner.max_context is not None and pos + n > runner.max_context:
        raise UsageError(
            f"{runner.name}: {pos + n} tokens do not fit its context of {runner.max_context} "
            "tokens; use a shorter prompt or fewer new tokens (or export with a longer "
            "--cache-length)"
        )


class TorchLM:
    """The torch parent with a ``transformers`` ``DynamicCache``."""

    signatures: tuple[str, ...] = ("forward",)
    max_context: int | None

    def __init__(self, model: Any, name: str = "torch") -> None:
        from edgekd.models.causal_lm import max_context

        self.model, self.name = model.eval(), name
        self.max_context = max_context(model)
        self._kw = cache_kwarg(model)
        self.reset()

    def reset(self) -> None:
        from transformers import DynamicCache

        self.cache = DynamicCache(config=self.model.config)
        self.pos = 0

    def _run(self, ids: Sequence[int]) -> np.ndarray:
        import torch

        check_room(self, self.pos, len(ids))
        x = torch.tensor([list(ids)], dtype=torch.int64)
        pos = torch.arange(self.pos, self.pos + len(ids))[None]
        with torch.no_grad():
            out = self.model(
                input_ids=x, position_ids=pos, use_cache=True, **{self._kw: self.cache}
            )
        self.pos += len(ids)
        return out.logits[0].float().numpy()

    def prefill(self, ids: Sequence[int]) -> np.ndarray:
        return self._run(ids)[-1]

    def decode(self, token: int) -> np.ndarray:
        return self._run([token])[-1]

    def logits(self, ids: Sequence[int]) -> np.ndarray:
        """[len(ids), vocab]: every position of one full forward pass (no cache)."""
        self.reset()
        out = self._run(ids)
        self.reset()
        return out


class OnnxLM:
    """An ``export_lm_onnx`` file in onnxruntime (CPU)."""

    signatures: tuple[str, ...] = ("prefill", "decode")
    max_context: int | None

    def __init__(self, path: Path, max_context: int | None, threads: int | None = None) -> None:
        from edgekd.runtime.onnx import check_onnx_file

        ort = require("onnxruntime", "onnx")
        check_onnx_file(path)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        inputs = {i.name: i for i in self.session.get_inputs()}
        self.past_names = [n for n in inputs if n.startswith("past_key_values.")]
        if "input_ids" not in inputs or not self.past_names:
            raise ModelFileError(f"{path}: not a language model with past key/values")
        self.kv_shape = (
            [int(d) for d in inputs[self.past_names[0]].shape[:2]],
            int(inputs[self.past_names[0]].shape[3]),
        )
        self.name, self.max_context = str(path), max_context
        self.reset()

    def reset(self) -> None:
        (b, heads), dim = self.kv_shape
        self.past = {n: np.zeros((b, heads, 0, dim), np.float32) for n in self.past_names}
        self.pos = 0

    def _run(self, ids: Sequence[int]) -> np.ndarray:
        check_room(self, self.pos, len(ids))
        n = len(ids)
        feeds = {
            "input_ids": np.asarray([ids], np.int64),
            "attention_mask": np.ones((1, self.pos + n), np.int64),
            "position_ids": np.arange(self.pos, self.pos + n, dtype=np.int64)[None],
            **self.past,
        }
        out = self.session.run(None, feeds)
        names = [o.name for o in self.session.get_outputs()]
        for name, value in zip(names[1:], out[1:], strict=True):
            self.past[name.replace("present.", "past_key_values.", 1)] = value
        self.pos += n
        return np.asarray(out[0][0], np.float32)

    def prefill(self, ids: Sequence[int]) -> np.ndarray:
        return self._run(ids)[-1]

    def decode(self, token: int) -> np.ndarray:
        return self._run([token])[-1]


class TFLiteLM:
    """An ``export_lm_tflite`` file in LiteRT: full prefill chunks of its prefill length go
    through ``prefill_{L}``; the rest of a prompt, and every new token, through ``decode``."""

    signatures: tuple[str, ...]
    max_context: int | None

    def __init__(self, path: Path, threads: int | None = None) -> None:
        from edgekd.runtime.litert import load_interpreter

        self.interp = load_interpreter(path, threads)
        sigs = self.interp.get_signature_list()
        prefills = sorted(int(s.rsplit("_", 1)[1]) for s in sigs if s.startswith("prefill_"))
        if "decode" not in sigs or not prefills:
            raise ModelFileError(
                f"{path}: not an LM export (signatures {sorted(sigs)}; expected prefill_L "
                "and decode)"
            )
        self._decode = self.interp.get_signature_runner("decode")
        self._prefill = {n: self.interp.get_signature_runner(f"prefill_{n}") for n in prefills}
        details = self._decode.get_input_details()
        self.kv_names = sorted(n for n in details if n.startswith("kv_cache_"))
        self.kv_shapes = {n: tuple(int(d) for d in details[n]["shape"]) for n in self.kv_names}
        self.cache_length = int(details["mask"]["shape"][-1])
        self.max_context = self.cache_length
        self.prefill_lengths = prefills
        self.signatures = (*(f"prefill_{n}" for n in prefills), "decode")
        self.name = str(path)
        self.reset()

    def reset(self) -> None:
        self.cache = {n: np.zeros(s, np.float32) for n, s in self.kv_shapes.items()}
        self.pos = 0

    def _mask(self, n: int) -> np.ndarray:
        rows = np.arange(self.pos, self.pos + n)[:, None]
        cols = np.arange(self.cache_length)[None, :]
        return np.where(cols <= rows, 0.0, MASKED).astype(np.float32)[None, None]

    def _run(self, runner: Any, ids: Sequence[int]) -> np.ndarray:
        n = len(ids)
        check_room(self, self.pos, n)
        out = runner(
            tokens=np.asarray([ids], np.int32),
            input_pos=np.arange(self.pos, self.pos + n, dtype=np.int32),
            mask=self._mask(n),
            **self.cache,
        )
        self.cache = {k: out[k] for k in self.kv_names}
        self.pos += n
        return np.asarray(out["logits"], np.float32).reshape(-1, out["logits"].shape[-1])[-1]

    def prefill(self, ids: Sequence[int]) -> np.ndarray:
        ids = list(ids)
        if not ids:
            raise UsageError("empty prompt: nothing to prefill")
        check_room(self, self.pos, len(ids))
        size = max(self.prefill_lengths)
        logits = None
        while len(ids) >= size:
            logits, ids = self._run(self._prefill[size], ids[:size]), ids[size:]
        for token in ids:
            logits = self._run(self._decode, [token])
        assert logits is not None
        return logits

    def prefill_chunk(self, ids: Sequence[int]) -> np.ndarray:
        """Exactly one ``prefill_{len(ids)}`` call (for the parity check of that signature)."""
        return self._run(self._prefill[len(ids)], ids)

    def decode(self, token: int) -> np.ndarray:
        return self._run(self._decode, [token])


def open_runner(path: Path, threads: int | None = None) -> LMRunner:
    """The runner for an exported file (by suffix); the sidecar gives the ONNX context."""
    from edgekd.runtime.lm_files import read_sidecar

    path = Path(path)
    doc = read_sidecar(path)
    if path.suffix == ".tflite":
        return TFLiteLM(path, threads)
    if path.suffix == ".onnx":
        ctx = doc["shape"]["max_context"] if doc else None
        return OnnxLM(path, ctx, threads)
    raise UsageError(f"{path}: expected an exported language model (.onnx or .tflite)")
