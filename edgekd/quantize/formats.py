"""Choose the int8 format for the runtime by measuring it: which static int8 file runs fastest
under onnxruntime's CPU provider on this host, within the accuracy guard's bar.

After the guard has chosen calibration and the nodes that stay float, the same settings are
re-quantized in each candidate format from one set of activation ranges (onnxruntime's
calibration cache), every candidate is judged on the guard's held-out rows, and all of them
are timed interleaved (batch 1, one thread, median of rounds, so a load spike hits every
candidate alike). The fastest that meets the bar (or, when the guard kept a degraded file,
that is no worse than it) is written; a candidate within
``TIE`` of the fastest with a lower output error wins the tie. Every candidate, its bytes,
latency and error, the host's instruction set and the reasons are recorded in the report's
``int8_format`` section (and so in the run manifest).

Candidates, from onnxruntime's "Choosing parameters for CPU inference" (``quantize_static``
docstring) and its quantization docs:

- QDQ (the recommended CPU format since onnxruntime 1.11) and QOperator (``QLinearConv``...),
  timed again against the best QDQ candidate and chosen only when more than ``TIE`` faster;
- per-tensor and per-channel weight scales (per-channel: better accuracy, sometimes slower);
- ``reduce_range`` (7-bit weights): needed on x86 without VNNI, where the u8s8 kernels'
  ``vpmaddubsw`` saturates int16 pair sums; on a VNNI (or Arm) host 8-bit weights are also
  tried, and choosing them is recorded with the warning that the file may saturate on an
  AVX2-only CPU;
- uint8 activations on x86 (int8 activations take a slower s8s8 path there; onnxruntime's
  defaults use them), int8 activations also tried on Arm.

Graph optimizations saved into the file (``SessionOptions.optimized_model_filepath``) are
measured too, but never written: the saved graph holds onnxruntime contrib ops
(``com.microsoft``) that other runtimes and edgekd's profiler do not read, and onnxruntime
applies the same fusions when it loads the QDQ file.
"""

from __future__ import annotations

import dataclasses
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgekd.errors import EdgekdError, require
from edgekd.quantize import quality
from edgekd.quantize.onnx_quant import PtqSettings, quantize_file
from edgekd.quantize.signature import Samples

TIE = 0.05  # candidates within 5% of the fastest are ties, broken by output error
ROUNDS = 7  # interleaved timing rounds
RUNS = 3  # timed runs per candidate per round at least (after one warm-up run)
ROUND_MS = 10.0  # and at least this long, up to MAX_RUNS runs
MAX_RUNS = 200


def host_isa() -> dict[str, Any]:
    """The CPU's architecture and the int8 dot-product extensions onnxruntime's kernels use."""
    machine = platform.machine().lower()
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    x86 = machine in ("x86_64", "amd64", "i386", "i686")
    vnni = bool(flags & {"avx512_vnni", "avx_vnni"})
    return {
        "machine": machine,
        "x86": x86,
        "avx2": "avx2" in flags,
        "vnni": vnni,
        "arm_dotprod": "asimddp" in flags,
    }


def candidates(base: PtqSettings, isa: dict[str, Any]) -> list[PtqSettings]:
    """QDQ formats worth measuring for ``base`` on a host with ``isa`` (``base`` first)."""
    rep = dataclasses.replace
    ranges = [True, False] if (not isa["x86"] or isa["vnni"]) else [True]
    acts = ["uint8"] if isa["x86"] else ["uint8", "int8"]
    channels = [True] if base.per_channel else [False, True]
    out = [base]
    for pc in channels:
        for rr in ranges:
            for act in acts:
                c = rep(base, quant_format="qdq", per_channel=pc, reduce_range=rr, activations=act)
                if c not in out:
                    out.append(c)
    return out


def session(path: Path, opts_path: Path | None = None) -> Any:
    """A one-thread onnxruntime CPU session (``opts_path``: save the optimized graph there)."""
    ort = require("onnxruntime", "onnx")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if opts_path is not None:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        opts.optimized_model_filepath = str(opts_path)
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def time_interleaved(
    paths: dict[str, Path], feed: dict[str, np.ndarray], rounds: int = ROUNDS, runs: int = RUNS
) -> dict[str, float]:
    """Median latency (ms) of each file on ``feed``, timed in interleaved rounds: per round
    each file runs at least ``runs`` times and for at least ``ROUND_MS`` (small models get
    more runs, so one load spike moves few of them). The order changes every round: the file
    timed right after a large one starts with its caches evicted, and a fixed order would
    give that cost to the same file every round."""
    sessions = {k: session(p) for k, p in paths.items()}
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for r in range(rounds):
        for k, s in shuffled(sessions, r):
            s.run(None, feed)
            spent, n = 0.0, 0
            while n < runs or (spent < ROUND_MS and n < MAX_RUNS):
                t0 = time.perf_counter()
                s.run(None, feed)
                ms = (time.perf_counter() - t0) * 1e3
                times[k].append(ms)
                spent, n = spent + ms, n + 1
    return {k: float(np.median(v)) for k, v in times.items()}


def shuffled(items: dict[str, Any], round_no: int) -> list[tuple[str, Any]]:
    """``items`` in a different order every round (seeded by ``round_no``: repeatable)."""
    import random

    pairs = list(items.items())
    random.Random(round_no).shuffle(pairs)
    return pairs


def describe(s: PtqSettings) -> str:
    """``QDQ per-channel 7-bit u8`` for tables and messages."""
    return " ".join(
        [
            "QDQ" if s.quant_format == "qdq" else "QOperator",
            "per-channel" if s.per_channel else "per-tensor",
            "7-bit" if s.reduce_range else "8-bit",
            "w, " + ("u8" if s.activations == "uint8" else "s8") + " act",
        ]
    )


def choose_format(
    src: Path,
    dst: Path,
    chosen: PtqSettings,
    calib: Samples,
    judge: Any,
    feed: dict[str, np.ndarray],
) -> tuple[dict[str, Any], PtqSettings]:
    """Re-quantize ``chosen`` in every candidate format, measure, write the best to ``dst``.

    ``dst`` already holds the guard's file for ``chosen`` (the first candidate). Returns the
    ``int8_format`` record: host, candidates (settings, bytes, p50 ms, badness = the guard's
    max relative L2 error + top-1 disagreement, bar), the chosen one and why; and the
    chosen settings.
    """
    isa = host_isa()
    cands = candidates(chosen, isa)
    recs: list[dict[str, Any]] = []
    paths: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="edgekd-fmt-") as tmp:
        cache = Path(tmp) / "ranges.json"
        for i, c in enumerate(cands):
            _candidate(src, dst, c, i, calib, judge, feed, Path(tmp), cache, recs, paths)
        opt = Path(tmp) / "optimized.onnx"
        try:
            session(paths["0"], opt)
            paths["saved_optimized"] = opt
        except Exception:  # saving the optimized graph is a measurement, not a requirement
            pass
        ms = time_interleaved(paths, feed)
        best = _pick(recs, ms)
        # QOperator (QLinearConv...) of the best QDQ candidate, timed against it
        qop = dataclasses.replace(cands[best], quant_format="qoperator")
        cands.append(qop)
        _candidate(src, dst, qop, len(recs), calib, judge, feed, Path(tmp), cache, recs, paths)
        pair = {k: paths[k] for k in (str(best), str(len(recs) - 1)) if k in paths}
        rematch = time_interleaved(pair, feed)  # the load may have changed: time both again
        if str(best) in rematch:
            recs[best]["p50_ms_vs_qoperator"] = rematch[str(best)]
        qop_i = len(recs) - 1
        if str(qop_i) in rematch:
            recs[qop_i]["p50_ms"] = rematch[str(qop_i)]
            # QDQ is onnxruntime's recommended, portable format: QOperator replaces it only
            # when clearly faster in the rematch
            rematch[str(qop_i)] *= 1 + TIE
        best = _pick(recs, {**ms, **rematch}, [best, qop_i])
        if best != 0:
            shutil.copyfile(paths[str(best)], dst)
    win = cands[best]
    notes = []
    if not win.reduce_range and isa["x86"]:
        notes.append(
            "8-bit weights chosen on a VNNI host: on an x86 CPU without VNNI (AVX2 only) "
            "onnxruntime's u8s8 kernels can saturate; re-quantize there for such a target"
        )
    return {
        "runtime": "onnxruntime CPUExecutionProvider, batch 1, 1 thread",
        "host": isa,
        "chosen": describe(win),
        "chosen_settings": win.to_dict(),
        "rule": f"fastest candidate meeting the bar; within {TIE:.0%} of it, lowest badness "
        "(relative L2 error + top-1 disagreement); QOperator timed again against the best QDQ",
        "candidates": recs,
        "saved_optimized_graph_ms": ms.get("saved_optimized"),
        "saved_optimized_graph": "measured, not written: it holds onnxruntime contrib ops "
        "that other runtimes and edgekd's profiler do not read",
        "notes": notes,
    }, win


def _pick(recs: list[dict[str, Any]], ms: dict[str, float], among: list[int] | None = None) -> int:
    """Index of the fastest candidate (of ``among``) meeting the bar (ties: lowest error);
    when the guard kept a degraded file (``allow_degraded``), candidates no worse than it
    qualify; 0 (the guard's file) if none does."""
    for i, rec in enumerate(recs):  # the first timing of each candidate is its record
        if rec.get("p50_ms") is None and str(i) in ms:
            rec["p50_ms"] = ms[str(i)]
    pool = range(len(recs)) if among is None else among
    base_bad = recs[0].get("badness", np.inf)  # the guard's file; it may be a degraded one
    ok = [
        i
        for i in pool
        if str(i) in ms
        and (recs[i]["meets_bar"] or (not recs[0]["meets_bar"] and recs[i]["badness"] <= base_bad))
    ]
    if not ok:
        return 0 if among is None else among[0]
    fastest = min(ms[str(i)] for i in ok)
    near = [i for i in ok if ms[str(i)] <= fastest * (1 + TIE)]
    return min(near, key=lambda i: (recs[i]["badness"], ms[str(i)]))


def _candidate(
    src: Path,
    dst: Path,
    c: PtqSettings,
    i: int,
    calib: Samples,
    judge: Any,
    feed: dict[str, np.ndarray],
    tmp: Path,
    cache: Path,
    recs: list[dict[str, Any]],
    paths: dict[str, Path],
) -> None:
    """Quantize (candidate 0: copy ``dst``) and judge candidate ``i``; append its record."""
    rec: dict[str, Any] = {"format": describe(c), "settings": c.to_dict()}
    path = tmp / f"cand{i}.onnx"
    if i == 0:
        shutil.copyfile(dst, path)
    else:
        try:
            quantize_file(src, path, c, calib, feed, calib_cache=cache)
        except EdgekdError as exc:
            rec.update(failed=str(exc).splitlines()[0], meets_bar=False)
            recs.append(rec)
            return
    got = judge(path)
    rec.update(
        bytes=path.stat().st_size,
        meets_bar=bool(got["meets_bar"]),
        badness=quality.worst(got["outputs"]),  # max relative L2 + top-1 disagreement
    )
    recs.append(rec)
    paths[str(i)] = path
