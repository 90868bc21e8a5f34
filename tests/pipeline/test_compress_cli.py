"""End to end through the real CLI entry point: exit codes, run directory, reports."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FAST

NO_TARGETS = ["--set", "targets.names=[]"]


def run_dir_of(stdout: str) -> Path:
    line = next(ln for ln in stdout.splitlines() if ln.startswith("run directory:"))
    return Path(line.split(":", 1)[1].strip())


@pytest.mark.slow
def test_compress_writes_a_whole_run_directory(cli, tmp_path):
    mcu = ["--set", "targets.names=[nano-33-ble]"]  # a microcontroller: the TFLM hop runs
    old_umask = os.umask(0o027)  # neither the usual 022 nor mkstemp's 0600: modes must follow it
    try:
        r = cli("compress", "--out", str(tmp_path), "--quiet", *FAST, *mcu)
    finally:
        os.umask(old_umask)
    assert r.exit_code == 0, r.stderr
    run = run_dir_of(r.stdout)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["versions"]["torch"].startswith("2.13")
    for stage in (
        "data",
        "teacher",
        "teacher_outputs",
        "distill",
        "baseline",
        "export_onnx",
        "evaluate",
    ):
        record = manifest["stages"][stage]
        assert record["status"] == "done" and record["attempt"] == 1 and len(record["key"]) == 32
        assert isinstance(record["seconds"], float)
    assert manifest["stages"]["distill"]["seconds"] > 0  # training takes measurable time
    # lineage per pass: what it read and what it wrote
    export = manifest["stages"]["export_onnx"]
    assert export["inputs"] == ["data", "student-pruned"] and export["outputs"] == ["student-onnx"]
    report = json.loads((run / "report.json").read_text())
    ids = {a["id"]: a for a in report["artifacts"]}
    assert set(ids) == {
        "teacher",
        "teacher-onnx",
        "student",
        "baseline",
        "student-pruned",
        "student-onnx",
        "student-onnx-int8",
        "student-tflite-fp32",
        "student-tflite-int8",
    }
    # lineage: distill -> prune -> export (ONNX, TFLite) -> quantize
    assert ids["student-pruned"]["parent"] == "student"
    assert ids["student-pruned"]["params"] < ids["student"]["params"]
    # saved without bloat: a state dict whose size tracks the parameter count
    pruned = ids["student-pruned"]
    assert pruned["path"].endswith(".safetensors")
    assert pruned["file_bytes"] < ids["student"]["file_bytes"]
    assert pruned["file_bytes"] < 4 * pruned["params"] + 4096  # fp32 weights + BN stats/header
    assert ids["teacher-onnx"]["parent"] == "teacher" and ids["teacher-onnx"]["role"] == "teacher"
    # every compression step against its reference, and a recommendation for the target
    steps = {s["artifact"]: s["reference"] for s in report["compression"]}
    assert steps == {
        "student-pruned": "student",
        "student-onnx-int8": "student-onnx",
        "student-tflite-int8": "student-tflite-fp32",
    }
    (prune_step,) = [s for s in report["compression"] if s["step"] == "prune"]
    assert prune_step["host_p50_ms"] > 0 and prune_step["reference_host_p50_ms"] > 0
    pick = report["chosen"]["nano-33-ble"]
    assert pick["fits"] is (pick["artifact"] is not None)
    md = (run / "report.md").read_text()
    assert md.index("## What to ship") < md.index("## Verdicts")
    for s in report["compression"]:
        for g in s["regressions"]:
            assert g["message"] in md
    assert ids["student-onnx-int8"]["parent"] == "student-onnx"
    assert ids["student-onnx-int8"]["precision"] == "int8"
    assert ids["student-tflite-int8"]["runtime"] == "litert"
    assert ids["student-tflite-int8"]["parity"]["status"] == "pass"
    onnx_art = ids["student-onnx"]
    assert onnx_art["parent"] == "student-pruned" and onnx_art["runtime"] == "onnxruntime"
    assert onnx_art["parity"]["status"] == "pass"
    for a in ids.values():
        assert set(a["metrics"]) == {"accuracy", "macro_f1", "agreement"}
        assert (run / a["path"]).is_file()
        assert manifest["files"][a["path"]] == a["sha256"]
    # each export's accuracy was measured by its own runtime and matches its torch parent
    for export in ("student-onnx", "student-tflite-fp32"):
        assert ids[export]["metrics"]["accuracy"] == pytest.approx(
            ids["student-pruned"]["metrics"]["accuracy"], abs=0.01
        )
    assert "| student-onnx |" in (run / "report.md").read_text()
    assert not list(run.rglob("*.part"))
    modes = {p.relative_to(tmp_path): stat.S_IMODE(p.stat().st_mode) for p in run.rglob("*")}
    modes[Path(run.name)] = stat.S_IMODE(run.stat().st_mode)
    for path, m in modes.items():
        expected = 0o750 if (tmp_path / path).is_dir() else 0o640
        assert m == expected, f"{path}: {m:o}"
    # the microcontroller hop: TFLM ran the int8 file, matched LiteRT, and its C array
    # declares the arena TFLM measured (the same number the profile reports)
    tflm = ids["student-tflite-int8"]
    prof = next(p for p in report["profiles"] if p["artifact"] == "student-tflite-int8")
    arena = prof["model"]["tflm_arena_bytes"]
    assert arena and f"g_model_data_arena_size = {arena};" in (run / "model_data.h").read_text()
    assert (run / "model_data.cc").is_file()
    assert tflm["parity"]["status"] == "pass"


@pytest.mark.slow
def test_parity_failure_exits_1_and_marks_the_artifact_failed(cli, tmp_path):
    r = cli(
        "compress",
        "--out",
        str(tmp_path),
        "--quiet",
        *FAST,
        *NO_TARGETS,
        "--set",
        "export.atol=0",
        "--set",
        "export.rtol=0",
    )
    assert r.exit_code == 1
    assert "parity check failed for student.onnx" in r.stderr and "max abs diff" in r.stderr
    assert "Traceback" not in r.stderr
    manifest = json.loads(next(tmp_path.glob("*/manifest.json")).read_text())
    art = next(a for a in manifest["artifacts"] if a["id"] == "student-onnx")
    assert art["status"] == "failed" and manifest["status"] == "failed"
    assert manifest["stages"]["export_onnx"]["status"] == "failed"


def test_bad_inputs_exit_2_with_one_message(cli, tmp_path):
    (tmp_path / "bad.yaml").write_text("distill:\n  temperature: 4\n    alpha: 2\n")
    (tmp_path / "unknown.yaml").write_text("distill: {temprature: 4}\n")
    (tmp_path / "type.yaml").write_text("distill: {epochs: lots}\n")
    (tmp_path / "file").write_text("")
    out = ["--out", str(tmp_path / "runs")]
    teacher = ["--set", "teacher.path=" + str(tmp_path / "t.onnx")]
    csv = ["--set", "data.source=csv", "--set", f"data.path={tmp_path}/d.csv"]
    cases = [
        (["compress", str(tmp_path / "missing.yaml"), *out], "recipe file not found"),
        (["compress", str(tmp_path / "bad.yaml"), *out], "YAML syntax error at line 3"),
        (["compress", str(tmp_path / "unknown.yaml"), *out], "distill.temprature: unknown key"),
        (["compress", str(tmp_path / "type.yaml"), *out], "distill.epochs: got 'lots'"),
        (["compress", *out, *teacher], "teacher.path: file not found"),
        (["compress", *out, *csv], "data.path: file not found"),
        (["compress", "--out", str(tmp_path / "file" / "runs"), *FAST], "output.dir: cannot write"),
    ]
    for args, needle in cases:
        r = cli(*args)
        assert r.exit_code == 2, (args, r.stderr)
        assert needle in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
    # nothing half-written looks whole: runs that started record their failure
    manifests = list((tmp_path / "runs").glob("*/manifest.json"))
    assert len(manifests) == 2  # the missing teacher and data files are found by stages
    for m in manifests:
        manifest = json.loads(m.read_text())
        assert manifest["status"] == "failed"
        assert not (m.parent / "report.json").exists()
    assert not (tmp_path / "file" / "runs").exists()


def test_usage_errors_from_the_command_line_parser_exit_2(cli):
    r = cli("bogus")
    assert r.exit_code == 2 and "No such command 'bogus'" in r.stderr
    r = cli("compress", "--no-such-option")
    assert r.exit_code == 2 and "No such option" in r.stderr


def test_init_writes_a_starter_recipe_that_compress_accepts(cli, tmp_path):
    path = tmp_path / "my.yaml"
    assert cli("init", str(path)).exit_code == 0
    assert "temperature" in path.read_text()
    again = cli("init", str(path))
    assert again.exit_code == 2 and "--force" in again.stderr


def test_help_imports_no_heavy_backend():
    code = (
        "import sys; from edgekd.cli import main;"
        "main(['--help']); "
        "heavy=[m for m in ('torch','tensorflow','tf_keras','keras',"
        "'tensorflow_model_optimization','onnxruntime','onnx') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "compress" in out.stdout


def test_default_recipe_student_is_at_least_10x_smaller_than_its_teacher():
    from edgekd.models.zoo import build_model, count_params
    from edgekd.recipe.schema import Recipe

    r = Recipe()
    teacher = build_model(r.teacher.arch, (1, 8, 8), 10, r.teacher.width, r.teacher.depth)
    student = build_model(r.student.arch, (1, 8, 8), 10, r.student.width, r.student.depth)
    assert count_params(teacher) >= 10 * count_params(student)


def one_message(r) -> str:
    """The single stderr line of a refused command (no traceback, nothing on stdout)."""
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_a_recipe_that_is_not_a_yaml_text_file_exits_2_naming_it(cli, tmp_path):
    garbage = tmp_path / "garbage.yaml"
    garbage.write_bytes(bytes(range(256)) * 4)
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    cases = [
        (garbage, "not UTF-8 YAML text"),
        (tmp_path, "is a directory; expected a recipe YAML file"),
        (empty, "the recipe is empty"),
    ]
    if Path("/proc/self/mem").exists():  # exists but read() fails with EIO, even for root
        cases.append((Path("/proc/self/mem"), "cannot read the recipe (Input/output error)"))
    for path, needle in cases:
        r = cli("compress", str(path), "--out", str(tmp_path / "runs"))
        assert r.exit_code == 2, (path, r.stderr)
        msg = one_message(r)
        assert msg.startswith(f"error: {path}: ") and needle in msg, msg
    assert not (tmp_path / "runs").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_recipe_exits_2_naming_it(cli, tmp_path):
    path = tmp_path / "locked.yaml"
    path.write_text("distill: {epochs: 3}\n")
    path.chmod(0)
    r = cli("compress", str(path), "--out", str(tmp_path / "runs"))
    assert r.exit_code == 2
    assert one_message(r) == f"error: {path}: cannot read the recipe (Permission denied)"


def test_output_name_never_writes_outside_out(cli, tmp_path):
    out = tmp_path / "a" / "b" / "runs"
    (tmp_path / "up.yaml").write_text("output: {name: ../../x}\n")
    (tmp_path / "abs.yaml").write_text(f"output: {{name: {tmp_path / 'abs'}}}\n")
    for args in (
        [str(tmp_path / "up.yaml")],
        [str(tmp_path / "abs.yaml")],
        ["--set", "output.name=../../../x"],
    ):
        r = cli("compress", *args, "--out", str(out), *FAST)
        assert r.exit_code == 2, (args, r.stderr)
        msg = one_message(r)
        assert "output.name: got" in msg and "one path component" in msg, msg
    assert sorted(p.name for p in tmp_path.iterdir()) == ["abs.yaml", "up.yaml"]


@pytest.mark.parametrize(("mask", "file_mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_init_writes_a_file_with_the_usual_permissions(cli, tmp_path, mask, file_mode):
    old = os.umask(mask)
    try:
        assert cli("init", str(tmp_path / "r.yaml")).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r.yaml").stat().st_mode) == file_mode
