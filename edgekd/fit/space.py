"""What ``edgekd fit`` searches, and what a candidate costs on the target before it is trained.

A candidate is a zoo student (family, width, depth), a structured-pruning ratio and a
precision. By default every zoo family that can read the data is searched (``cnn`` needs
(C, H, W) images; ``mlp`` reads anything): the family is the lever a user shrinking the
recipe's student by hand does not pull (Edge Impulse's EON Tuner also searches families).
``estimate`` builds a candidate with random weights at its pruned width (structured pruning
removes that share of every layer's channels), exports it in the format the
target's runtime runs (TFLite through edgekd's exporter, int8 calibrated on random inputs;
ONNX, int8 by onnxruntime's static QDQ) and runs edgekd's simulator on the target: latency,
peak RAM and flash do not depend on the weights, so a candidate that cannot fit is skipped
without training it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgekd.recipe.schema import Recipe

PRECISIONS = ("int8", "fp32")


@dataclass(frozen=True)
class Space:
    """The search space: every combination is a candidate."""

    archs: tuple[str, ...] = ("cnn", "mlp")
    widths: tuple[int, ...] = (4, 6, 8, 12, 16, 24, 32, 48, 64)
    depths: tuple[int, ...] = (1, 2, 3)
    prune: tuple[float, ...] = (0.0, 0.125, 0.25, 0.375, 0.5)
    precisions: tuple[str, ...] = PRECISIONS

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) for k, v in asdict(self).items()}

    def for_input(self, input_shape: tuple[int, ...]) -> tuple[str, ...]:
        """The families of this space that can read inputs of ``input_shape``."""
        return tuple(a for a in self.archs if reads(a, input_shape))


def reads(arch: str, input_shape: tuple[int, ...]) -> bool:
    """Whether zoo family ``arch`` takes inputs of ``input_shape`` (``cnn``: (C, H, W))."""
    return arch != "cnn" or len(input_shape) == 3


@dataclass(frozen=True)
class Candidate:
    arch: str
    width: int
    depth: int
    prune: float
    precision: str

    @property
    def pruned_width(self) -> int:
        """The width left after structured pruning (every layer loses ``prune`` of its
        channels; the zoo's layers are all multiples of the width)."""
        return max(1, round(self.width * (1 - self.prune)))

    @property
    def label(self) -> str:
        cut = f" pruned {self.prune:.0%}" if self.prune else ""
        return f"{self.arch} {self.width}x{self.depth}{cut} {self.precision}"

    def recipe(self, base: Recipe, target: str, budget: dict[str, float]) -> Recipe:
        """``base`` with this student, prune ratio and precision, exported for the target and
        judged by its budget only (no baseline or teacher export: the search compared them)."""
        from edgekd.recipe.schema import Recipe

        r = base.model_dump(mode="json")
        r["student"].update(model=None, arch=self.arch, width=self.width, depth=self.depth)
        r["prune"].update(method="structured" if self.prune else "none", sparsity=self.prune)
        r["quantize"]["method"] = "static" if self.precision == "int8" else "none"
        r["export"].update(formats=["onnx", "tflite"], teacher=False)
        r["export"]["tflite"]["precision"] = [self.precision]
        r["distill"]["baseline"] = False
        r["targets"].update(names=[target], budgets={target: budget})
        r["output"]["name"] = f"{base.output.name}-fit"
        return Recipe.model_validate(r)


def estimate(
    cand: Candidate,
    input_shape: tuple[int, ...],
    num_classes: int,
    target: str,
    budget: dict[str, float],
    workdir: Path,
) -> dict[str, Any]:
    """The simulator's prediction for ``cand`` on ``target`` (random weights; shapes are all
    the simulator reads): ``{params, latency_ms, peak_ram_bytes, flash_bytes, verdict,
    violations}``. The ONNX files are kept in ``workdir`` by content, so a repeated
    candidate costs nothing."""
    from edgekd.profile.api import profile
    from edgekd.profile.targets import load_runtimes, load_target

    runtime = load_runtimes()[load_target(target).runtimes.default]
    make = _candidate_tflite if runtime.format == "tflite" else _candidate_onnx
    path = make(cand, input_shape, num_classes, workdir)
    row = profile(path, targets=[target], budgets={target: budget}, measure=False)
    t = row["targets"][0]
    pred = t.get("predicted") or {}
    return {
        "params": row["model"].get("params"),
        "macs": row["model"].get("macs"),
        "latency_ms": pred.get("latency_ms"),
        "peak_ram_bytes": pred.get("peak_ram_bytes"),
        "flash_bytes": pred.get("flash_bytes"),
        "verdict": t["verdict"],
        "violations": [
            {k: v.get(k) for k in ("key", "value", "limit", "message")}
            for v in t.get("violations") or []
        ]
        + [{"key": "runtime", "message": m} for m in t.get("unsupported") or []],
    }


def _model(cand: Candidate, input_shape: tuple[int, ...], num_classes: int) -> Any:
    import torch

    from edgekd.models.zoo import build_model

    torch.manual_seed(0)
    return build_model(cand.arch, input_shape, num_classes, cand.pruned_width, cand.depth).eval()


def _key(cand: Candidate, input_shape: tuple[int, ...], num_classes: int, workdir: Path) -> str:
    spec = [cand.arch, cand.pruned_width, cand.depth, list(input_shape), num_classes]
    workdir.mkdir(parents=True, exist_ok=True)
    return hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:16]


def _candidate_tflite(
    cand: Candidate, input_shape: tuple[int, ...], num_classes: int, workdir: Path
) -> Path:
    import numpy as np

    from edgekd.export.tflite_export import export_tflite

    path = workdir / f"{_key(cand, input_shape, num_classes, workdir)}.{cand.precision}.tflite"
    if not path.is_file():
        rng = np.random.default_rng(0)
        calib = rng.standard_normal((16, *input_shape)).astype(np.float32)
        export_tflite(
            _model(cand, input_shape, num_classes), calib[:1], path, cand.precision,
            calib=calib if cand.precision == "int8" else None, gate=False,
        )  # fmt: skip
    return path


def _candidate_onnx(
    cand: Candidate, input_shape: tuple[int, ...], num_classes: int, workdir: Path
) -> Path:
    import numpy as np

    from edgekd.export.onnx_export import export_onnx
    from edgekd.models.reference_export import quantize_int8

    key = _key(cand, input_shape, num_classes, workdir)
    fp32 = workdir / f"{key}.onnx"
    if not fp32.is_file():
        sample = np.zeros((1, *input_shape), dtype=np.float32)
        export_onnx(_model(cand, input_shape, num_classes), sample, fp32, gate=False)
    if cand.precision == "fp32":
        return fp32
    int8 = workdir / f"{key}.int8.onnx"
    if not int8.is_file():
        quantize_int8(fp32, int8)
    return int8


def over_budget(est: dict[str, Any]) -> float:
    """How far the worst budget is exceeded, as a fraction of its limit (<= 0: fits). The
    constraint Optuna's sampler reads; a runtime that cannot run the model counts as 1."""
    worst = -1.0
    for v in est["violations"]:
        if v.get("key") == "runtime" or not v.get("limit"):
            worst = max(worst, 1.0)
        else:
            worst = max(worst, (float(v["value"]) - float(v["limit"])) / float(v["limit"]))
    return worst if est["verdict"] != "pass" else min(worst, 0.0)
