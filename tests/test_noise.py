"""edgekd's output is its own: no dependency's logs, warnings or notices on stdout/stderr."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from edgekd.noise import BACKEND_ENV, drop_stderr_lines, quiet_backend_env, quiet_calls
from tests.conftest import FAST

# What the libraries under edgekd printed during `edgekd compress` and the other commands
# before it filtered them (issue 19), and the generic shapes of any such line.
NOISE = [
    r"^[IWEF]\d{4} \d\d:\d\d:\d\d",  # absl/glog/torch-logging lines: I0000 00:00:..., W1128 ...
    r"absl::InitializeLog",
    r"oneDNN custom operations",
    r"flatbuffer_export\.cc",
    r"_pytree",
    r"LeafSpec",
    r"Failed to load .*\.so",
    r"converted in training mode",
    r"XNNPACK delegate",
    r"\[[VIWEF]:onnxruntime:",  # onnxruntime's C++ log lines: [W:onnxruntime:, graph.cc:...]
    r"\w+Warning: ",  # any Python warning (FutureWarning, UserWarning, DeprecationWarning...)
    r"^(WARNING|INFO|DEBUG):",  # a library logging through an unconfigured root logger
    r"Traceback",
]


def noise_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if any(re.search(p, ln) for p in NOISE)]


def edgekd(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``edgekd ARGS`` in a fresh process, as a user runs it (stdout and stderr apart)."""
    proc = subprocess.run(
        [sys.executable, "-m", "edgekd.cli", *args], capture_output=True, text=True, cwd=cwd
    )
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.slow
def test_compress_export_and_profile_print_no_dependency_noise(tmp_path):
    # the default recipe (distill, prune, quantize, ONNX and TFLite fp32/int8 exports, LiteRT
    # evaluation, profile on a phone, a board and an MCU), with tiny training budgets
    tiny = [*FAST, "--set", "prune.fine_tune.epochs=2"]
    run = edgekd("compress", "--out", "runs", *tiny, cwd=tmp_path)
    found = {"stdout": noise_lines(run.stdout), "stderr": noise_lines(run.stderr)}
    run_dir = next((tmp_path / "runs").iterdir())
    # a command that converts to TFLite first thing in a fresh process (where torchao and the
    # converter are imported), then one that profiles the file it wrote
    export = edgekd(
        "export", str(run_dir / "student.safetensors"), "--arch", "cnn", "--width", "16",
        "--depth", "2", "--input-shape", "1,8,8", "--num-classes", "10",
        "--precision", "fp16", "--out", "s.tflite", cwd=tmp_path,
    )  # fmt: skip
    profile = edgekd("profile", "s.tflite", "--target", "nano-33-ble", "--no-measure", cwd=tmp_path)
    for name, proc in (("export", export), ("profile", profile)):
        found[f"{name} stdout"] = noise_lines(proc.stdout)
        found[f"{name} stderr"] = noise_lines(proc.stderr)
    assert found == {k: [] for k in found}
    assert "run directory:" in run.stdout and "wrote s.tflite" in export.stdout


def test_backend_env_never_overrides_the_users_choice():
    env = {"TF_CPP_MIN_LOG_LEVEL": "0"}
    quiet_backend_env(env)
    assert env == {**BACKEND_ENV, "TF_CPP_MIN_LOG_LEVEL": "0"}


def test_quiet_calls_silences_only_the_named_loggers_and_warnings(caplog):
    import logging
    import warnings

    caplog.set_level(logging.DEBUG)  # whatever an earlier test left the root logger at
    before = logging.getLogger("torchao").level
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet_calls():
            logging.getLogger("torchao").warning("Failed to load _C_mxfp8.so")
            logging.getLogger("edgekd.test").warning("kept")
            warnings.warn(
                "`isinstance(treespec, LeafSpec)` is deprecated", FutureWarning, stacklevel=1
            )
            warnings.warn("kept too", FutureWarning, stacklevel=1)
    assert [r.getMessage() for r in caplog.records] == ["kept"]
    assert [str(w.message) for w in caught] == ["kept too"]
    assert logging.getLogger("torchao").level == before  # restored


def test_drop_stderr_lines_drops_the_named_line_from_cpp_writes_and_keeps_the_rest(capfd):
    import os

    with drop_stderr_lines("XNNPACK delegate") as dropped:
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"ERROR: something real\n")
    assert dropped == ["INFO: Created TensorFlow Lite XNNPACK delegate for CPU."]
    assert capfd.readouterr().err == "ERROR: something real\n"
