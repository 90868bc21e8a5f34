from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edgekd.profile.api import profile
from edgekd.profile.targets import targets_dir
from tests.conftest import run_cli


def run(*args: str) -> tuple[int, str]:
    """``edgekd ARGS`` through the real entry point: (exit code, everything it printed)."""
    return run_cli(list(args))


def test_profile_json_structure(tiny_onnx: Path) -> None:
    code, out = run("profile", str(tiny_onnx), "-t", "pixel-4", "-t", "nucleo-l4r5zi", "--json",
                    "--no-measure")  # fmt: skip
    assert code == 0
    r = json.loads(out)
    assert r["schema"] == "edgekd.profile/1" and r["host"] is None
    for k in ("path", "format", "precision", "params", "weight_bytes", "file_bytes", "macs",
              "peak_activation_bytes"):  # fmt: skip
        assert k in r["model"]
    assert [t["name"] for t in r["targets"]] == ["pixel-4", "nucleo-l4r5zi"]
    for t in r["targets"]:
        assert set(t["predicted"]) == {"latency_ms", "latency_ms_low", "latency_ms_high",
                                       "peak_ram_bytes", "flash_bytes", "energy_mj"}  # fmt: skip
        assert t["verdict"] in ("pass", "fail", "unsupported")
        assert isinstance(t["violations"], list) and t["top_ops"][0]["op_type"]
    assert r["targets"][1]["runtime"] == "tflm-cmsis-nn"


def test_host_measurement(tiny_onnx: Path, tiny_tflite: Path) -> None:
    for path in (tiny_onnx, tiny_tflite):
        r = profile(path, targets=["rpi-4"], threads=1)
        host = r["host"]
        assert "error" not in host, host
        lat = host["latency_ms"]
        assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"]
        assert host["peak_rss_bytes"] > 0 and host["threads"] == 1 and host["runs"] >= 10


def test_fail_on_budget_exits_3(tiny_onnx: Path) -> None:
    args = ["profile", str(tiny_onnx), "-t", "pixel-4", "--no-measure", "--budget",
            "pixel-4.latency_ms=0.000001"]  # fmt: skip
    code, out = run(*args)
    assert code == 0 and "fail" in out
    code, msg = run(*args, "--fail-on-budget")
    assert code == 3 and "pixel-4" in msg
    assert (
        run("profile", str(tiny_onnx), "-t", "pixel-4", "--no-measure", "--fail-on-budget")[0] == 0
    )


def test_unsupported_op_named(topk_onnx: Path) -> None:
    r = profile(topk_onnx, targets=["nucleo-l4r5zi", "pixel-4"], measure=False)
    mcu, phone = r["targets"]
    assert mcu["verdict"] == "unsupported" and "TopK" in mcu["unsupported"][0]
    assert phone["verdict"] == "pass"


def test_profile_with_recipe_section(tiny_onnx: Path) -> None:
    from edgekd.profile.api import profile_with
    from edgekd.profile.config import TargetsConfig

    cfg = TargetsConfig(names=["rpi-5"], budgets={"rpi-5": {"latency_ms": 1e-6}}, measure=False)
    r = profile_with(tiny_onnx, cfg)
    assert r["targets"][0]["verdict"] == "fail" and r["targets"][0]["budget"]["latency_ms"] == 1e-6


def test_runtime_not_on_target(tiny_onnx: Path) -> None:
    r = profile(tiny_onnx, targets=["esp32-s3"], runtime="litert", measure=False)
    t = r["targets"][0]
    assert t["verdict"] == "unsupported" and "does not run on esp32-s3" in t["unsupported"][0]
    assert t["predicted"]["latency_ms"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-t", "nope"], "unknown target 'nope'; valid targets: esp32-s3, jetson-nano"),
        (["--budget", "pixel-4.latency=3"], "unknown budget key 'latency'"),
        (["--budget", "pixel-4latency_ms3"], "expected NAME.KEY=VALUE"),
        (["--budget", "rpi-4.latency_ms=3"], "not profiled"),
        (["--runtime", "tvm"], "unknown runtime 'tvm'"),
        (["--int8"], "--int8 quantizes zoo: models only"),
    ],
)
def test_bad_input_exit_2(tiny_onnx: Path, args: list[str], message: str) -> None:
    code, msg = run("profile", str(tiny_onnx), "-t", "pixel-4", "--no-measure", *args)
    assert code == 2 and message in msg


def test_bad_model_files_exit_2(tmp_path: Path, tiny_onnx: Path) -> None:
    txt = tmp_path / "model.bin"
    txt.write_text("not a model")
    code, msg = run("profile", str(txt), "--no-measure")
    assert code == 2 and "not an ONNX or TFLite model" in msg
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(tiny_onnx.read_bytes()[:150])
    code, msg = run("profile", str(cut), "--no-measure")
    assert code == 2 and "cut.onnx" in msg


def test_bad_target_file_exit_2(tmp_path: Path, tiny_onnx: Path) -> None:
    data = yaml.safe_load((targets_dir() / "nucleo-l4r5zi.yaml").read_text())
    data["memory"]["ram_bytes"] = -1
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(data))
    code, msg = run("profile", str(tiny_onnx), "-t", str(p), "--no-measure")
    assert code == 2 and "memory.ram_bytes" in msg and "bad.yaml" in msg


def test_targets_list_and_show() -> None:
    code, out = run("targets", "list", "--json")
    assert code == 0 and len(json.loads(out)) >= 13
    code, out = run("targets", "show", "rpi-5")
    assert code == 0 and "Cortex-A76" in out and "sources" in out
    assert run("targets", "show", "rpi-9")[0] == 2


def test_zoo_model_int8() -> None:
    r = profile("zoo:mlperf_tiny_kws_dscnn", targets=["nucleo-l4r5zi"], measure=False)
    q = profile("zoo:mlperf_tiny_kws_dscnn", targets=["nucleo-l4r5zi"], measure=False, int8=True)
    assert r["model"]["precision"] == "fp32" and q["model"]["precision"] == "int8"
    assert abs(q["model"]["macs"] - 2.66e6) / 2.66e6 < 0.05
    assert q["targets"][0]["predicted"]["latency_ms"] < r["targets"][0]["predicted"]["latency_ms"]


def test_cli_module_does_not_import_heavy_backends() -> None:
    code = (
        "import sys, edgekd.profile.cli; heavy = ('torch', 'onnx', 'onnxruntime', 'tensorflow'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    root = str(Path(__file__).resolve().parents[2])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                         env={"PYTHONPATH": root, "PATH": ""}, check=True)  # fmt: skip
    assert out.stdout.strip() == "[]"


def test_mcu_ram_is_the_arena_tflm_measures(tiny_tflite_int8: Path, tiny_tflite: Path) -> None:
    pytest.importorskip("tflite_micro")
    from edgekd.profile.targets import load_runtimes
    from edgekd.runtime.tflm import measure_arena

    r = profile(tiny_tflite_int8, targets=["nano-33-ble", "pixel-4"], measure=False)
    arena = measure_arena(tiny_tflite_int8).arena_bytes
    assert r["model"]["tflm_arena_bytes"] == arena and arena > 0
    mcu = r["targets"][0]
    overhead = load_runtimes()[mcu["runtime"]].ram_overhead_bytes
    assert mcu["predicted"]["peak_ram_bytes"] == arena + overhead
    # float files are not measured (DESIGN: int8 .tflite only), ONNX neither
    assert (
        profile(tiny_tflite, targets=["pixel-4"], measure=False)["model"]["tflm_arena_bytes"]
        is None
    )


def test_ram_violation_names_the_ops_at_the_peak(tiny_tflite_int8: Path) -> None:
    r = profile(
        tiny_tflite_int8, targets=["nano-33-ble"], budgets={"nano-33-ble": {"ram_bytes": 1}},
        measure=False,
    )  # fmt: skip
    peak = r["model"]["memory_peak"]
    assert peak["peak_bytes"] > 0 and peak["live"]
    (v,) = [v for v in r["targets"][0]["violations"] if v["key"] == "ram_bytes"]
    assert "activation peak" in v["message"] and peak["op"]["op_type"] in v["message"]
