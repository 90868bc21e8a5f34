"""One real end-to-end run shared by the report tests (nothing else trains), and a
manifest grown from it with a quantized child that fails and is unsupported somewhere."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FAST

# Pinned, so the tests do not change when the default recipe's targets and stages do:
# distill -> ONNX only; the tests grow a synthetic artifact graph on top of it.
TARGETS = [
    "--set",
    "targets.names=[pixel-4, rpi-4, nucleo-l4r5zi]",
    "--set",
    "prune.method=none",
    "--set",
    "quantize.method=none",
    "--set",
    "export.formats=[onnx]",
    "--set",
    "export.teacher=false",
]


@pytest.fixture(scope="session")
def compressed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(run directory, stdout of ``edgekd compress``)."""
    from edgekd.cli import main

    out = tmp_path_factory.mktemp("report-runs")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["compress", "--out", str(out), "--quiet", *FAST, *TARGETS])
    assert code == 0, buf.getvalue()
    (run,) = out.iterdir()
    return run, buf.getvalue()


@pytest.fixture(scope="session")
def run_dir(compressed: tuple[Path, str]) -> Path:
    return compressed[0]


def add_int8_child(manifest: dict[str, Any]) -> dict[str, Any]:
    """The run's manifest plus ``student-int8`` (child of ``student-onnx``): faster and a
    little less accurate; over the latency budget on the MCU; unsupported on rpi-4."""
    m = copy.deepcopy(manifest)
    onnx = next(a for a in m["artifacts"] if a["id"] == "student-onnx")
    child = copy.deepcopy(onnx)
    child.update(
        id="student-int8",
        stage="quantize",
        precision="int8",
        path="student-int8.onnx",
        parent="student-onnx",
        file_bytes=onnx["file_bytes"] // 3,
        metrics={**onnx["metrics"], "accuracy": onnx["metrics"]["accuracy"] - 0.01},
    )
    m["artifacts"].append(child)
    prof = child["extra"]["profile"]  # a copy of student-onnx's
    for t in prof["targets"]:
        for key in ("latency_ms", "latency_ms_low", "latency_ms_high"):
            t["predicted"][key] /= 2
        if t["name"] == "nucleo-l4r5zi":
            limit = t["predicted"]["latency_ms"] / 2
            t["budget"]["latency_ms"] = limit
            t["headroom"]["latency_ms"] = -100.0
            t["verdict"] = "fail"
            t["violations"] = [
                {
                    "key": "latency_ms",
                    "value": t["predicted"]["latency_ms"],
                    "limit": limit,
                    "message": "latency_ms over budget",
                }
            ]
        if t["name"] == "rpi-4":
            t["verdict"] = "unsupported"
            t["unsupported"] = ["unsupported op(s) for litert: DynamicQuantizeLinear"]
            t["headroom"] = {}
    return m


def profiles_in(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Every profile of a run's manifest (each kept in its artifact's ``extra``)."""
    return [a["extra"]["profile"] for a in manifest["artifacts"] if "profile" in a["extra"]]


def first_profile(manifest: dict[str, Any]) -> dict[str, Any]:
    """The profile of the first profiled artifact."""
    return profiles_in(manifest)[0]


@pytest.fixture(scope="session")
def grown_manifest(run_dir: Path) -> dict[str, Any]:
    return add_int8_child(json.loads((run_dir / "manifest.json").read_text()))


def with_many_targets(manifest: dict[str, Any], copies: int = 3) -> dict[str, Any]:
    """The manifest with every target profiled ``copies`` times under new names (long ones,
    as users name their own boards), to check that plots and tables scale with the count."""
    m = copy.deepcopy(manifest)
    for p in profiles_in(m):
        extra = []
        for k in range(1, copies):
            for t in p["targets"]:
                t2 = copy.deepcopy(t)
                t2["name"] = f"{t['name']}-custom-board-{k}"
                extra.append(t2)
        p["targets"] += extra
    return m


# Op names litert-torch wrote into a real .tflite of the digits CNN (fused conv+bn+relu).
_SEQ = "torch.nn.modules.container.Sequential"
TFLITE_OP_NAMES = [
    (
        f"{_SEQ}/{_SEQ}_features/{_SEQ}_block1/torch.nn.modules.activation.ReLU_act;;"
        f"{_SEQ}/{_SEQ}_features/{_SEQ}_block1/torch.nn.modules.batchnorm.BatchNorm2d_bn;;"
        f"{_SEQ}/{_SEQ}_features/{_SEQ}_block1/torch.nn.modules.conv.Conv2d_conv;1",
        "CONV_2D",
    ),
    (f"{_SEQ}/{_SEQ}_features/{_SEQ}_block0/torch.nn.modules.pooling.MaxPool2d_pool;",
     "MAX_POOL_2D"),
    (f"{_SEQ}/torch.nn.modules.pooling.AdaptiveAvgPool2d_pool;1", "MEAN"),
    ("serving_default_output_0_output", "FULLY_CONNECTED"),
]  # fmt: skip


def long_op_names(manifest: dict[str, Any]) -> dict[str, Any]:
    """Every profiled op renamed the way litert-torch names TFLite ops: the longest names a
    report meets (the top-ops plot must still be legible)."""
    m = copy.deepcopy(manifest)
    for p in profiles_in(m):
        for t in p["targets"]:
            for i, op in enumerate(t.get("top_ops") or []):
                op["name"], op["op_type"] = TFLITE_OP_NAMES[i % len(TFLITE_OP_NAMES)]
    return m
