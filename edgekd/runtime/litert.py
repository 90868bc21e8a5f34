"""Run .tflite files with LiteRT and read what is inside them.

The interpreter is ``ai_edge_litert.interpreter.Interpreter``; ``tflite_runtime`` is used only
as a fallback when ai-edge-litert is missing (tflite-runtime 2.14, its last release, breaks with
numpy 2). The flatbuffer is read with the schema module that ships with ai-edge-litert
(``schema_py_generated``, generated from tensorflow/lite/schema/schema.fbs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgekd.errors import MissingBackendError, ModelFileError, UsageError
from edgekd.noise import drop_stderr_lines

_INSTALL = 'pip install "edgekd[tflite]"'


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter  # type: ignore[import-not-found]

        return Interpreter
    except ImportError:
        raise MissingBackendError(
            f"no TFLite runtime: ai-edge-litert is not installed: {_INSTALL}"
        ) from None


def load_interpreter(path: str | Path, threads: int | None = None) -> Any:
    """A LiteRT interpreter for ``path`` with tensors allocated.

    A missing, empty, corrupt or truncated file raises ``ModelFileError`` naming the file
    (LiteRT verifies the flatbuffer before building the interpreter).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: TFLite file not found")
    cls = _interpreter_class()
    try:
        interp = cls(model_path=str(path), num_threads=threads)
        with drop_stderr_lines(XNNPACK_NOTICE):  # printed by the first allocation in a process
            interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if UNRESOLVED in first:  # a valid file with an op this LiteRT build has no kernel for
            raise ModelFileError(f"{path}: LiteRT cannot run it: {first}") from None
        raise ModelFileError(
            f"{path}: not a valid TFLite model (corrupt or truncated?): {first}"
        ) from None
    return interp


XNNPACK_NOTICE = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
UNRESOLVED = "unresolved custom op"  # LiteRT's message for an op no resolver provides


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: Any) -> np.ndarray:
    """Affine quantization q = clamp(round(x / scale) + zero_point) (TFLite quantization spec,
    https://ai.google.dev/edge/litert/models/quantization_spec)."""
    info = np.iinfo(dtype)
    q = np.round(x / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """x = (q - zero_point) * scale, as float32."""
    return ((q.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)).astype(np.float32)


def _arg_position(detail: dict[str, Any]) -> tuple[int, int]:
    """Order of an input tensor among the model's arguments (litert-torch names them
    ``..args_0``, ``..args_1``); other names keep the file's order."""
    import re

    m = re.search(r"args_(\d+)", str(detail.get("name", "")))
    return (int(m.group(1)) if m else 1 << 30, int(detail["index"]))


class TfliteRunner:
    """Float logits from a single-output .tflite file, for any batch size; one input, or
    several (text: int64 ``input_ids`` and ``attention_mask``) given as a dict or tuple.

    Integer inputs are quantized and integer outputs dequantized with the tensor's own
    scale/zero-point. A model exported with a dynamic batch dimension is resized to the whole
    batch; one with a static batch runs chunk by chunk (the last chunk zero-padded).
    """

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        self.path = Path(path)
        self.interpreter = load_interpreter(self.path, threads)
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if not inputs or len(outputs) != 1:
            raise ModelFileError(
                f"{self.path}: expected inputs and one output tensor, "
                f"found {len(inputs)} and {len(outputs)}"
            )
        self.inputs = sorted(inputs, key=_arg_position)
        self.input, self.output = self.inputs[0], outputs[0]
        sig = self.input.get("shape_signature", self.input["shape"])
        self.dynamic_batch = len(sig) > 0 and int(sig[0]) == -1
        self.batch = int(self.input["shape"][0])
        self._resized_to = self.batch

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample (without the batch dimension)."""
        return tuple(int(d) for d in self.input["shape"][1:])

    def predict(self, x: Any) -> np.ndarray:
        """Float32 outputs for ``x`` of shape (N, *input_shape) (or one array per input)."""
        from edgekd.data.dataset import Split
        from edgekd.data.inputs import as_tuple

        if isinstance(x, Split):
            parts = [self.predict(b) for b in x.batches(256)]
            return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
        arrays = [np.asarray(a) for a in as_tuple(x)]
        if len(arrays) != len(self.inputs):
            raise UsageError(
                f"{self.path}: the model takes {len(self.inputs)} inputs, got {len(arrays)}"
            )
        for a, detail in zip(arrays, self.inputs, strict=True):
            want = tuple(int(d) for d in detail["shape"][1:])
            if tuple(a.shape[1:]) != want:
                raise UsageError(
                    f"{self.path}: input shape {tuple(a.shape)} does not match the model's "
                    f"(N, {', '.join(map(str, want))})"
                )
        n_rows = len(arrays[0])
        if n_rows == 0:
            return np.zeros((0, *self.output["shape"][1:]), np.float32)
        if self.dynamic_batch:
            self._resize(n_rows)
            return self._invoke(arrays)
        chunks = []
        for i in range(0, n_rows, self.batch):
            part = [a[i : i + self.batch] for a in arrays]
            n = len(part[0])
            if n < self.batch:
                part = [
                    np.concatenate([p, np.zeros((self.batch - n, *p.shape[1:]), p.dtype)])
                    for p in part
                ]
            chunks.append(self._invoke(part)[:n])
        return np.concatenate(chunks)

    def _resize(self, n: int) -> None:
        if n != self._resized_to:
            for detail in self.inputs:
                shape = [n, *detail["shape"][1:]]
                self.interpreter.resize_tensor_input(detail["index"], shape, strict=True)
            self.interpreter.allocate_tensors()
            self.output = self.interpreter.get_output_details()[0]
            self._resized_to = n

    def _invoke(self, arrays: Any) -> np.ndarray:
        if isinstance(arrays, np.ndarray):
            arrays = [arrays]
        for x, detail in zip(arrays, self.inputs, strict=True):
            dtype = detail["dtype"]
            scale, zero = detail.get("quantization", (0.0, 0))
            if x.dtype.kind == "f" and dtype != np.float32 and scale:
                x = quantize(x.astype(np.float32), scale, zero, dtype)
            self.interpreter.set_tensor(detail["index"], np.ascontiguousarray(x, dtype=dtype))
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(self.output["index"])
        if self.output["dtype"] != np.float32:
            scale, zero = self.output["quantization"]
            return dequantize(out, scale, zero)
        return out.astype(np.float32, copy=True)


def read_model(path: str | Path) -> Any:
    """The parsed flatbuffer (``schema_py_generated.ModelT``) of a .tflite file (one with a
    custom op LiteRT has no kernel for is still read: its structure is valid)."""
    try:
        load_interpreter(path)  # verifies the flatbuffer; a bad file raises ModelFileError
    except ModelFileError as exc:
        if UNRESOLVED not in str(exc):
            raise
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        raise MissingBackendError(
            f"reading .tflite structure needs ai-edge-litert: {_INSTALL}"
        ) from None
    buf = Path(path).read_bytes()
    return schema.ModelT.InitFromPackedBuf(bytearray(buf), 0)


def builtin_op_names() -> dict[int, str]:
    """Builtin operator code -> schema name (``CONV_2D``...), from ai-edge-litert's schema."""
    from ai_edge_litert import schema_py_generated as schema

    ops = schema.BuiltinOperator
    return {v: k for k, v in vars(ops).items() if not k.startswith("_") and isinstance(v, int)}


def op_code_name(code: Any, names: dict[int, str]) -> str:
    """The name of one ``OperatorCode``: builtin by schema name, custom as ``CUSTOM:<code>``."""
    # builtinCode supersedes deprecatedBuiltinCode (schema.fbs, OperatorCode comment)
    builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
    name = names.get(builtin, f"BUILTIN_{builtin}")
    if name == "CUSTOM" and code.customCode:
        custom = (
            code.customCode.decode("utf-8", errors="replace")
            if isinstance(code.customCode, bytes)
            else code.customCode
        )
        return f"CUSTOM:{custom}"
    return name


def tflite_op_types(path: str | Path) -> list[str]:
    """The operator types in a .tflite file, in order of first use over all subgraphs.

    Builtin ops by their schema name (``CONV_2D``, ``FULLY_CONNECTED``...); custom ops as
    ``CUSTOM:<code>``. Read from the flatbuffer, so delegates applied at run time (XNNPACK
    shows up as ``DELEGATE`` in ``Interpreter._get_ops_details()``) do not hide them.
    """
    model = read_model(path)
    names = builtin_op_names()
    seen: list[str] = []
    for graph in model.subgraphs or []:
        for op in graph.operators or []:
            name = op_code_name(model.operatorCodes[op.opcodeIndex], names)
            if name not in seen:
                seen.append(name)
    return seen
