"""Short, readable labels for graph ops: ``Conv #2 (features.block1.conv)``.

Exporters name ops after the module that produced them, each in its own way:

- ONNX (torch.onnx): ``/features/block1/conv/Conv``; quantized graphs add
  ``/features/block0/act/Relu_output_0_QuantizeLinear`` and ``input_QuantizeLinear``.
- TFLite (litert-torch): ``torch.nn.modules.container.Sequential/..._features/..._block1/
  torch.nn.modules.conv.Conv2d_conv;1`` (``<class>_<attribute>`` per level), several such
  paths joined by ``;;`` when ops were fused (conv + batch norm + ReLU).

The label is the op type, its ordinal among ops of that type in execution order (``nth`` in
``top_ops``, when the profile has it), and the module path the name points to (the common
prefix of fused paths), shortened from the left to ``max_len`` characters.
"""

from __future__ import annotations

import re
from typing import Any

_QDQ_SUFFIX = re.compile(r"(_output_\d+)?_(QuantizeLinear|DequantizeLinear)$")
_TFLITE_LEVEL = re.compile(r"^[\w.]*?\.?[A-Z]\w*?_(\w+)$")  # "torch...Conv2d_conv" -> "conv"


def _onnx_module(name: str, op_type: str) -> str:
    parts = [p for p in name.split("/") if p]
    if not parts:
        return ""
    leaf = _QDQ_SUFFIX.sub("", parts[-1])
    # the last level names the op itself ('Conv', 'Relu_1'), not a module: drop it
    if leaf == op_type or re.fullmatch(r"[A-Z][A-Za-z]*(_\d+)?", leaf):
        parts = parts[:-1]
    else:
        parts[-1] = leaf
    return ".".join(parts)


def _tflite_path(segment: str) -> list[str]:
    """``Seq/Seq_features/Seq_block1/Conv2d_conv`` -> [features, block1, conv]."""
    out = []
    for level in segment.split("/")[1:]:  # the first level is the root module (no attribute)
        m = _TFLITE_LEVEL.match(level)
        if not m:
            return []
        out.append(m.group(1))
    return out


def _common_prefix(paths: list[list[str]]) -> list[str]:
    prefix = paths[0]
    for p in paths[1:]:
        n = 0
        while n < min(len(prefix), len(p)) and prefix[n] == p[n]:
            n += 1
        prefix = prefix[:n]
    return prefix


def module_path(name: str, op_type: str) -> str:
    """The module an op name points to ('' when the name says nothing useful)."""
    if "torch.nn.modules" in name or ";" in name:
        segments = [s.split(";")[0] for s in name.split(";;")]
        paths = [p for p in (_tflite_path(s) for s in segments) if p]
        return ".".join(_common_prefix(paths)) if paths else ""
    if "/" in name or _QDQ_SUFFIX.search(name):
        return _onnx_module(name, op_type)
    if name.startswith(("serving_default", "StatefulPartitioned")):
        return ""  # TFLite signature tensor names
    return "" if re.fullmatch(r"[A-Z][A-Za-z]*(_\d+)?", name) else name  # 'Conv_12


def shorten(path: str, max_len: int) -> str:
    """Drop leading components until ``path`` fits: 'a.b.c.d' -> '…c.d'."""
    if len(path) <= max_len:
        return path
    parts = path.split(".")
    while len(parts) > 1 and len("…" + ".".join(parts)) > max_len:
        parts = parts[1:]
    short = "…" + ".".join(parts)
    return short if len(short) <= max_len else "…" + path[-(max_len - 1) :]


def op_label(op: dict[str, Any], max_len: int = 28) -> str:
    """``Conv #2 (features.block1.conv)``; without a module: ``Conv #2``."""
    head = op["op_type"] + (f" #{op['nth']}" if op.get("nth") else "")
    module = module_path(op["name"], op["op_type"])
    return f"{head} ({shorten(module, max_len)})" if module else head
