"""Format-independent graph summary: ops with MACs and bytes, and peak activation memory.

The ONNX and TFLite readers (``onnx_graph``, ``tflite_graph``) both produce the ops list
defined here; everything downstream (simulation, op support, reports) reads only this.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Precision = Literal["fp32", "fp16", "int8"]

# op class -> what dominates it; the simulator looks efficiencies up by class.
OP_CLASSES = ("conv", "depthwise", "gemm", "pool", "elementwise", "data", "quant")


@dataclass
class OpInfo:
    """One operator in execution order.

    ``macs`` is the op's work: multiply-accumulates for the conv, depthwise and gemm
    classes, element operations (pool window elements, elementwise outputs) for the others
    (the simulator times both; ``GraphSummary.macs`` sums only the first kind);
    ``weight_bytes`` are the constant bytes the op reads;
    ``act_bytes`` are the activation bytes it reads and writes; ``fused`` marks ops a
    runtime folds into their producer (an activation after a conv, a Q/DQ pair).
    """

    name: str
    op_type: str
    op_class: str
    macs: int
    weight_bytes: int
    act_bytes: int
    precision: Precision
    fused: bool = False


@dataclass
class GraphSummary:
    """What static analysis reports about a model file (sizes in bytes).

    ``macs`` counts multiply-accumulates only (conv, depthwise, gemm classes: convolutions,
    matrix products, recurrent gates, attention); ``elementwise_ops`` the rest of the work.
    ``peak_activation_bytes`` includes ``persistent_bytes``: state a stateful model keeps
    between invocations is in RAM for the whole run. ``input_shapes`` are the shapes every
    figure was computed at; ``shape_notes`` says what was assumed about them.
    """

    path: str
    format: Literal["onnx", "tflite"]
    precision: Precision
    params: int
    weight_bytes: int
    file_bytes: int
    macs: int
    peak_activation_bytes: int
    ops: list[OpInfo] = field(default_factory=list)
    input_shapes: dict[str, list[int]] = field(default_factory=dict)
    elementwise_ops: int = 0  # pooling windows and element-wise outputs (not MACs)
    persistent_bytes: int = 0  # variable tensors and resource variables (kept across runs)
    shape_notes: list[str] = field(default_factory=list)
    loaded_by: list[str] = field(default_factory=list)  # runtimes that loaded it on this host

    @property
    def op_types(self) -> list[str]:
        """Distinct op types in first-use order."""
        return list(dict.fromkeys(op.op_type for op in self.ops))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["op_types"] = self.op_types
        return d


def peak_live_bytes(
    steps: list[tuple[list[str], list[str]]],
    sizes: dict[str, int],
    graph_inputs: list[str],
    graph_outputs: list[str],
) -> int:
    """Peak of the summed sizes of live tensors over the execution order.

    A tensor is live from the step that produces it (step 0 for graph inputs) to the last
    step that reads it (the end for graph outputs); at each step the op's inputs and
    outputs are live together. This is the lower bound a greedy arena planner such as
    TFLite Micro's ``GreedyMemoryPlanner`` approaches (no in-place reuse assumed).
    ``steps`` holds (inputs, outputs) per op; tensors missing from ``sizes`` (constants)
    are ignored.
    """
    n = len(steps)
    first: dict[str, int] = {t: 0 for t in graph_inputs if t in sizes}
    last: dict[str, int] = {}
    for i, (ins, outs) in enumerate(steps):
        for t in outs:
            if t in sizes:
                first.setdefault(t, i)
                last[t] = max(last.get(t, i), i)
        for t in ins:
            if t in sizes:
                first.setdefault(t, i)
                last[t] = max(last.get(t, i), i)
    for t in graph_outputs:
        if t in sizes:
            first.setdefault(t, n - 1)
            last[t] = max(n - 1, 0)
    delta = [0] * (n + 1)
    for t, start in first.items():
        end = last.get(t, start)
        delta[start] += sizes[t]
        delta[end + 1] -= sizes[t]
    peak = live = 0
    for i in range(n if n else 1):
        live += delta[i]
        peak = max(peak, live)
    return peak


class Aliases:
    """Union-find over tensors a runtime stores in one buffer (Q/DQ pairs, in-place views,
    activations fused into their producer). Each group is sized once, at its narrowest
    element type, as the fused runtime kernel stores it."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def root(self, t: str) -> str:
        p = self.parent.get(t, t)
        if p == t:
            return t
        r = self.root(p)
        self.parent[t] = r
        return r

    def union(self, a: str, b: str) -> None:
        ra, rb = self.root(a), self.root(b)
        if ra != rb:
            self.parent[rb] = ra


def group_sizes(
    aliases: Aliases, numel: dict[str, int], itemsize: dict[str, int]
) -> dict[str, int]:
    """Bytes per alias group: the group's element count times its narrowest element size."""
    elems: dict[str, int] = {}
    size: dict[str, int] = {}
    for t, n in numel.items():
        r = aliases.root(t)
        elems[r] = max(elems.get(r, 0), n)
        size[r] = min(size.get(r, 8), itemsize.get(t, 4))
    return {r: elems[r] * size[r] for r in elems}


MAC_CLASSES = ("conv", "depthwise", "gemm")


def kind_precision(kinds: list[str | None]) -> Precision:
    """Precision an op computes in, from the kinds of its inputs: 'int8' (quantized data),
    'fp16', 'fp32', or None for index, flag and text tensors (a bool condition or int64
    indices are one or eight bytes but say nothing about the arithmetic)."""
    if "int8" in kinds:
        return "int8"
    if "fp16" in kinds:
        return "fp16"
    return "fp32"


def split_work(ops: list[OpInfo]) -> tuple[int, int]:
    """(multiply-accumulates, other element operations) summed over ``ops``."""
    macs = sum(op.macs for op in ops if op.op_class in MAC_CLASSES)
    return macs, sum(op.macs for op in ops if op.op_class not in MAC_CLASSES)


def graph_precision(ops: list[OpInfo]) -> Precision:
    """int8 if any MAC-heavy op runs quantized, else fp16 if any runs in half, else fp32."""
    heavy = [op.precision for op in ops if op.op_class in ("conv", "depthwise", "gemm")]
    pool = heavy or [op.precision for op in ops]
    for p in ("int8", "fp16"):
        if p in pool:
            return p  # type: ignore[return-value]
    return "fp32"
