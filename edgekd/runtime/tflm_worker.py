"""Subprocess body for ``edgekd.runtime.tflm``: every TFLite Micro call happens here.

The TFLM Python interpreter (PyPI ``tflite-micro``) can crash the whole process on an arena
too small for its own bookkeeping, and prints its allocation report from C++ to stderr, so
each request runs in a child: ``python -m edgekd.runtime.tflm_worker REQUEST.json``. The
request names the model, the mode (``arena`` or ``run``) and, for ``run``, an ``.npz`` of
inputs; the answer is one JSON object on stdout (outputs go to ``out_npz``).
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from typing import Any

import numpy as np

ALIGN = 16  # TFLM aligns arena buffers to 16 bytes (MicroArenaBufferAlignment())
_ALLOC = re.compile(r"'(?P<name>[^']+)' used (?P<used>\d+) bytes .*?requested (?P<req>\d+) bytes")
_TOTAL = re.compile(r"Arena allocation (?P<kind>total|head|tail) (?P<n>\d+) bytes")


class _Stderr:
    """Capture what C++ writes to file descriptor 2 while the block runs."""

    def __enter__(self) -> _Stderr:
        sys.stderr.flush()
        self.tmp = tempfile.TemporaryFile()
        self.saved = os.dup(2)
        os.dup2(self.tmp.fileno(), 2)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.tmp.seek(0)
        self.text = self.tmp.read().decode("utf-8", "replace")
        self.tmp.close()


def _interpreter(data: bytes, arena: int) -> tuple[Any, str]:
    """(interpreter or None, what TFLM printed while building it)."""
    from tflite_micro.python.tflite_micro import runtime

    with _Stderr() as err:
        try:
            it = runtime.Interpreter.from_bytes(data, arena_size=arena)
        except RuntimeError:
            it = None
    return it, err.text


def _invoke(it: Any) -> bool:
    """Run once on zero inputs: some kernels allocate scratch buffers at first invoke."""
    try:
        for i in range(_count_inputs(it)):
            d = it.get_input_details(i)
            it.set_input(np.zeros(d["shape"], d["dtype"]), i)
        it.invoke()
    except (RuntimeError, ValueError):
        return False
    return True


def _count_inputs(it: Any) -> int:
    n = 0
    while True:
        try:
            it.get_input_details(n)
        except (RuntimeError, ValueError, IndexError):
            return n
        n += 1
        if n > 64:
            return n


def _fits(data: bytes, arena: int) -> bool:
    """Whether the model allocates (TFLM plans every tensor and scratch buffer in
    AllocateTensors, which the interpreter's constructor runs)."""
    it, _ = _interpreter(data, arena)
    return it is not None


def _unsupported(text: str) -> list[str]:
    """Op names from TFLM's 'Didn't find op for builtin opcode' messages."""
    ops = re.findall(r"Didn't find op for builtin opcode '([^']+)'", text)
    ops += re.findall(r"Failed to get registration from op code (\S+)", text)
    return list(dict.fromkeys(ops))


def measure_arena(data: bytes, ceiling: int) -> dict[str, Any]:
    """Smallest arena (16-byte steps) that allocates and invokes, and the allocation report
    of a generous arena (RecordingMicroAllocator, ``print_allocations``)."""
    it, text = _interpreter(data, ceiling)
    if it is None:
        ops = _unsupported(text)
        first = next((ln for ln in text.splitlines() if ln.strip()), "allocation failed")
        return {"ok": False, "unsupported_ops": ops, "error": first.strip()}
    if not _invoke(it):
        return {"ok": False, "unsupported_ops": [], "error": "TFLM invoke failed"}
    with _Stderr() as err:
        it.print_allocations()
    report = _parse_allocations(err.text)
    lo = max(ALIGN, report.get("total", ALIGN))  # the arena holds at least what it used
    lo = -(-lo // ALIGN) * ALIGN - ALIGN
    hi = ceiling
    while hi - lo > ALIGN:  # invariant: lo does not fit (or is a lower bound), hi fits
        mid = (lo + hi) // 2 // ALIGN * ALIGN
        if mid <= lo:
            break
        if _fits(data, mid):
            hi = mid
        else:
            lo = mid
    it, _ = _interpreter(data, hi)
    if it is None or not _invoke(it):
        return {"ok": False, "unsupported_ops": [], "error": f"TFLM failed to invoke at {hi} B"}
    return {"ok": True, "arena_bytes": hi, **report}


def _parse_allocations(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {"allocations": []}
    for m in _TOTAL.finditer(text):
        out[m.group("kind")] = int(m.group("n"))
    for m in _ALLOC.finditer(text):
        out["allocations"].append(
            {
                "what": m.group("name"),
                "bytes": int(m.group("used")),
                "requested": int(m.group("req")),
            }
        )
    return out


def run(data: bytes, arena: int, inputs: list[np.ndarray]) -> tuple[dict[str, Any], list]:
    """Invoke once per row of the first input (batch 1 each); outputs stacked per output."""
    it, text = _interpreter(data, arena)
    if it is None:
        return {"ok": False, "unsupported_ops": _unsupported(text), "error": text.strip()}, []
    rows = len(inputs[0])
    outs: list[list[np.ndarray]] = []
    for r in range(rows):
        for i, x in enumerate(inputs):
            it.set_input(np.ascontiguousarray(x[r : r + 1]), i)
        it.invoke()
        k = 0
        got = []
        while True:
            try:
                got.append(np.array(it.get_output(k)))
            except (RuntimeError, ValueError, IndexError):
                break
            k += 1
        outs.append(got)
    stacked = [np.concatenate([o[k] for o in outs]) for k in range(len(outs[0]))] if outs else []
    details = [it.get_output_details(k) for k in range(len(stacked))]
    meta = [
        {
            "dtype": np.dtype(d["dtype"]).name,
            "scale": float(d["quantization_parameters"]["scales"][0])
            if len(d["quantization_parameters"]["scales"])
            else 0.0,
            "zero_point": int(d["quantization_parameters"]["zero_points"][0])
            if len(d["quantization_parameters"]["zero_points"])
            else 0,
        }
        for d in details
    ]
    return {"ok": True, "outputs": meta}, stacked


def main(argv: list[str]) -> int:
    req = json.loads(open(argv[0], encoding="utf-8").read())
    with open(req["model"], "rb") as f:
        data = f.read()
    if req["mode"] == "arena":
        result = measure_arena(data, int(req["ceiling"]))
    elif req["mode"] == "fits":
        result = {"ok": _fits(data, int(req["arena"]))}
    else:
        with np.load(req["inputs"]) as z:
            inputs = [z[k] for k in sorted(z.files)]
        result, outs = run(data, int(req["arena"]), inputs)
        if result["ok"]:
            np.savez(req["out_npz"], *outs)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
