"""TensorFlow Lite Micro on the host: the real tensor arena, op support and outputs.

The interpreter is the one TFLM ships for the host (PyPI ``tflite-micro``,
``tflite_micro.python.tflite_micro.runtime.Interpreter``; its kernels are TFLM's reference
kernels, the ones a microcontroller runs without an optimized library). Every call runs in a
subprocess (``edgekd.runtime.tflm_worker``): a too-small arena can crash the interpreter, and
its allocation report is printed by C++ to stderr.

- ``measure_arena``: the smallest arena, in TFLM's 16-byte alignment steps, in which the
  model allocates, plus ``RecordingMicroAllocator``'s report (head = planned tensors, tail =
  persistent structs). Measured on a 64-bit host: the tensor data (head) is what a Cortex-M
  needs; the persistent structs hold pointers, so the tail is smaller on a 32-bit core.
- ``check_tflm_parity``: the same raw inputs through TFLM and LiteRT, outputs compared.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekd.errors import MissingBackendError, ModelFileError

_INSTALL = 'pip install "edgekd[tflite]"'
MAX_ARENA = 512 * 1024 * 1024
ALIGN_BYTES = 16  # TFLM's arena buffer alignment (MicroArenaBufferAlignment())


@dataclass
class TflmArena:
    """What TFLM allocated for a model (bytes)."""

    arena_bytes: int | None  # smallest arena that allocates (what model_data.h declares)
    used_bytes: int | None = None  # RecordingMicroAllocator total in a generous arena
    head_bytes: int | None = None
    tail_bytes: int | None = None
    allocations: list[dict[str, Any]] = field(default_factory=list)
    unsupported_ops: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.arena_bytes is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tflm_available() -> bool:
    """Whether the ``tflite-micro`` package is importable (without importing it)."""
    from importlib.util import find_spec

    try:
        return find_spec("tflite_micro") is not None
    except (ImportError, ValueError):
        return False


def _require() -> None:
    if not tflm_available():
        raise MissingBackendError(f"TFLite Micro is not installed (tflite-micro): {_INSTALL}")


def _worker(request: dict[str, Any], timeout: float = 600.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="edgekd-tflm-") as d:
        req = Path(d) / "req.json"
        request = {**request, "out_npz": str(Path(d) / "out.npz")}
        req.write_text(json.dumps(request), encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, "-m", "edgekd.runtime.tflm_worker", str(req)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            return {"ok": False, "error": f"TFLM worker exited {proc.returncode}: {tail}"}
        result = json.loads(lines[-1])
        if request["mode"] == "run" and result.get("ok"):
            with np.load(request["out_npz"]) as z:
                result["arrays"] = [z[k] for k in sorted(z.files, key=lambda s: int(s[4:]))]
        return result


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise ModelFileError(f"{path}: TFLite file not found")
    if path.read_bytes()[4:8] != b"TFL3":
        raise ModelFileError(f"{path}: not a TFLite flatbuffer (no TFL3 identifier)")


def measure_arena(path: str | Path) -> TflmArena:
    """The tensor arena TFLM needs for ``path`` (see the module docstring). A model TFLM
    cannot build (an op it has no kernel for) comes back with ``arena_bytes=None`` and the
    op names in ``unsupported_ops``."""
    _require()
    path = Path(path)
    _check_file(path)
    ceiling = max(1 << 20, 8 * path.stat().st_size)
    while True:
        res = _worker({"mode": "arena", "model": str(path), "ceiling": ceiling})
        if res.get("ok") or res.get("unsupported_ops") or ceiling >= MAX_ARENA:
            break
        ceiling *= 8  # a large model: try a larger arena before giving up
    if not res.get("ok"):
        return TflmArena(None, unsupported_ops=res.get("unsupported_ops", []), error=res["error"])
    return TflmArena(
        arena_bytes=int(res["arena_bytes"]),
        used_bytes=res.get("total"),
        head_bytes=res.get("head"),
        tail_bytes=res.get("tail"),
        allocations=res.get("allocations", []),
    )


def allocates(path: str | Path, arena_bytes: int) -> bool:
    """Whether TFLM builds ``path`` in an arena of exactly ``arena_bytes``."""
    _require()
    res = _worker({"mode": "fits", "model": str(path), "arena": int(arena_bytes)})
    return bool(res.get("ok"))


def run_tflm(
    path: str | Path, inputs: list[np.ndarray], arena_bytes: int | None = None
) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """Raw outputs of TFLM for raw inputs (already in the model's input dtype), one
    invoke per row; and each output's dtype/scale/zero-point."""
    _require()
    path = Path(path)
    _check_file(path)
    arena = arena_bytes or measure_arena(path).arena_bytes
    if arena is None:
        raise ModelFileError(f"{path}: TFLite Micro cannot allocate this model")
    with tempfile.TemporaryDirectory(prefix="edgekd-tflm-in-") as d:
        npz = Path(d) / "in.npz"
        np.savez(npz, *[np.ascontiguousarray(x) for x in inputs])
        res = _worker({"mode": "run", "model": str(path), "arena": arena, "inputs": str(npz)})
    if not res.get("ok"):
        raise ModelFileError(f"{path}: TFLite Micro failed: {res.get('error')}")
    return res["arrays"], res["outputs"]


def raw_inputs(path: str | Path, x: np.ndarray) -> np.ndarray:
    """``x`` (floats) as the model's first input tensor holds them: quantized with the
    tensor's scale and zero-point for an integer input, else float32."""
    from edgekd.runtime.litert import load_interpreter, quantize

    d = load_interpreter(path).get_input_details()[0]
    if np.issubdtype(d["dtype"], np.integer):
        scale, zp = d["quantization"]
        return quantize(np.asarray(x, np.float32), scale, zp, d["dtype"])
    return np.asarray(x, np.float32)


def litert_raw(path: str | Path, x: np.ndarray) -> np.ndarray:
    """LiteRT's raw first output for raw inputs ``x``, one invoke per row (batch 1)."""
    from edgekd.runtime.litert import load_interpreter

    it = load_interpreter(path, threads=1)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    rows = []
    for r in range(len(x)):
        it.set_tensor(inp["index"], np.ascontiguousarray(x[r : r + 1]).reshape(inp["shape"]))
        it.invoke()
        rows.append(np.array(it.get_tensor(out["index"])))
    return np.concatenate(rows)
