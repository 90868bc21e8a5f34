"""Typed schema of target files (``targets/*.yaml``) and runtime data (``targets/runtimes.yaml``).

Every model is ``extra="forbid"`` and numbers are non-negative, so a typo or a negative
clock is an error naming the field path. Each target carries ``sources``: where each group
of numbers comes from (datasheet, TRM, published measurement).
"""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    field_validator,
    model_validator,
)

PRECISIONS = ("fp32", "fp16", "int8")
BUDGET_KEYS = ("latency_ms", "ram_bytes", "flash_bytes", "energy_mj", "min_accuracy")
REQUIRED_SOURCES = ("cores", "macs_per_cycle", "memory", "bandwidth", "power")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MacsPerCycle(_Strict):
    """Peak multiply-accumulates per cycle per core, by precision (ISA/TRM figures). A
    precision the core has no arithmetic for is computed at the ``fp32`` rate."""

    fp32: NonNegativeFloat
    fp16: NonNegativeFloat | None = None
    int8: NonNegativeFloat


class CoreCluster(_Strict):
    """Cores of one type. ``macs_per_cycle`` is the pipeline's peak (TRM/SWOG); ``core``
    names the core type in ``targets/cores.yaml`` that says which share of that peak each
    kernel library sustains (a cluster without it uses the ``generic`` entry)."""

    name: str
    uarch: str
    core: str | None = None
    count: int = Field(ge=1)
    freq_mhz: float = Field(gt=0)
    macs_per_cycle: MacsPerCycle


class Isa(_Strict):
    neon: bool = False
    dot_product: bool = False
    fp16: bool = False
    dsp: bool = False
    fpu: bool = False
    simd: bool = False


class Memory(_Strict):
    """Sizes in bytes, bandwidths in GB/s. MCUs execute weights in place from flash."""

    ram_bytes: NonNegativeInt
    flash_bytes: NonNegativeInt
    bandwidth_gbps: float = Field(gt=0)
    weights_in_flash: bool = False
    flash_bandwidth_gbps: float | None = Field(default=None, gt=0)


class Power(_Strict):
    active_mw: float = Field(gt=0)
    idle_mw: NonNegativeFloat | None = None


class Budgets(_Strict):
    latency_ms: NonNegativeFloat | None = None
    ram_bytes: NonNegativeFloat | None = None
    flash_bytes: NonNegativeFloat | None = None
    energy_mj: NonNegativeFloat | None = None
    min_accuracy: float | None = Field(default=None, ge=0, le=1)


class TargetRuntimes(_Strict):
    default: str
    supported: list[str]

    @field_validator("default", "supported")
    @classmethod
    def _known(cls, v: str | list[str]) -> str | list[str]:
        from edgekd.profile.targets import runtime_names

        names = runtime_names()
        for name in [v] if isinstance(v, str) else v:
            if name not in names:
                raise ValueError(f"unknown runtime {name!r}; runtimes.yaml has {', '.join(names)}")
        return v

    @model_validator(mode="after")
    def _default_supported(self) -> TargetRuntimes:
        if self.default not in self.supported:
            raise ValueError(f"default runtime {self.default!r} is not in supported")
        return self


class Target(_Strict):
    """A device: cores, ISA, memory, power, runtimes and default budgets."""

    id: str
    name: str
    kind: Literal["phone", "board", "mcu"]
    cores: list[CoreCluster] = Field(min_length=1)
    isa: Isa
    memory: Memory
    power: Power
    runtimes: TargetRuntimes
    budgets: Budgets = Budgets()
    sources: dict[str, str]
    notes: str = ""

    @model_validator(mode="after")
    def _sources_cover_numbers(self) -> Target:
        missing = [k for k in REQUIRED_SOURCES if not self.sources.get(k)]
        if missing:
            raise ValueError(f"sources must cite {', '.join(missing)}")
        return self

    def fastest_cores(self, n: int) -> list[CoreCluster]:
        """The ``n`` fastest cores (by clock), one entry per core, as a scheduler picks them."""
        ordered = sorted(self.cores, key=lambda c: -c.freq_mhz)
        picked: list[CoreCluster] = []
        for c in ordered:
            picked += [c] * c.count
        return picked[: max(1, n)]

    @property
    def core_count(self) -> int:
        return sum(c.count for c in self.cores)


class Efficiency(_Strict):
    """Fraction of peak reached per precision, with op-class multipliers shared by all
    precisions (depthwise and matrix-vector kernels reach less of peak than dense conv)."""

    fp32: NonNegativeFloat
    fp16: NonNegativeFloat
    int8: NonNegativeFloat
    depthwise: NonNegativeFloat = 1.0
    gemm: NonNegativeFloat = 1.0
    other: NonNegativeFloat = 0.25


class KernelShare(_Strict):
    """Share of a core's peak MAC rate a kernel library sustains on dense conv/GEMM."""

    fp32: NonNegativeFloat
    fp16: NonNegativeFloat | None = None
    int8: NonNegativeFloat


class CoreType(_Strict):
    """A microarchitecture (``targets/cores.yaml``): per kernel library, the sustained share
    of the peak in ``macs_per_cycle``, each with its source."""

    description: str
    kernels: dict[str, KernelShare]
    sources: dict[str, str]


class Runtime(_Strict):
    """A runtime's cost model: fitted efficiencies, fixed overheads and what it supports.
    ``kernels`` maps a precision to the kernel library that computes it (a key of each core
    type's ``kernels`` in cores.yaml)."""

    description: str
    ops: str = Field(description="its op table: a key of OP_SETS in profile/op_support.py")
    format: Literal["onnx", "tflite"] = "tflite"
    kernels: dict[str, str] = {}
    device_kinds: list[Literal["phone", "board", "mcu"]]
    precisions: list[Literal["fp32", "fp16", "int8"]]
    efficiency: Efficiency
    fitted: list[str] = []
    priors: dict[str, NonNegativeFloat] = {}
    op_overhead_cycles: NonNegativeFloat
    parallel_fraction: float = Field(ge=0, le=1)
    max_threads: int = Field(ge=1)
    code_bytes: NonNegativeInt
    ram_overhead_bytes: NonNegativeInt
    arena_overhead: NonNegativeFloat = 0.0
    band: float = Field(ge=1)
    sources: dict[str, str]

    @model_validator(mode="after")
    def _few_factors(self) -> Runtime:
        if len(self.fitted) > 3:
            raise ValueError("at most 3 fitted efficiency factors per runtime")
        unknown = [f for f in [*self.fitted, *self.priors] if f not in Efficiency.model_fields]
        if unknown:
            raise ValueError(f"fitted/priors name unknown efficiency factors: {unknown}")
        return self

    @field_validator("ops")
    @classmethod
    def _known_ops(cls, v: str) -> str:
        from edgekd.profile.op_support import OP_SETS

        if v not in OP_SETS:
            raise ValueError(f"unknown op set {v!r}; op_support.OP_SETS has {', '.join(OP_SETS)}")
        return v
