"""The README stays true: every recipe snippet in it validates as written."""

import re
from pathlib import Path

import pytest

from edgekd.recipe.load import load_recipe

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S)


def test_readme_has_recipe_snippets():
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize("i", range(len(BLOCKS)))
def test_readme_recipe_snippet_validates(tmp_path, i):
    (tmp_path / "gb.skops").write_bytes(b"")  # the tabular snippet names a local file
    path = tmp_path / "recipe.yaml"
    path.write_text(BLOCKS[i])
    recipe = load_recipe(path)
    assert recipe.distill.method in BLOCKS[i] or recipe.distill.method == "kd"


# --- "Prune and quantize": the commands of its bash block run as written -------------------

SECTION = README.read_text().split("## Prune and quantize", 1)[1]
COMMANDS = re.findall(r"```bash\n(.*?)```", SECTION, re.S)[0].splitlines()


def _edgekd_lines(tool: str) -> list[list[str]]:
    import shlex

    return [shlex.split(line)[1:] for line in COMMANDS if line.startswith(f"edgekd {tool} ")]


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory):
    """What ``edgekd compress --out runs`` leaves for these commands: a trained default-size
    student as student.safetensors and student.onnx (30 epochs here, not the full recipe)."""
    import torch

    from edgekd.data.loaders import load_data
    from edgekd.export.onnx_export import export_onnx
    from edgekd.models.files import save_weights
    from edgekd.models.zoo import build_model
    from edgekd.train.config import TrainConfig
    from edgekd.train.loop import fit

    run = tmp_path_factory.mktemp("runs") / "digits-1"
    run.mkdir()
    data = load_data()
    torch.manual_seed(0)
    model = build_model("cnn", data.input_shape, data.num_classes, width=16, depth=2)
    fit(model, data.train, data.val, TrainConfig(epochs=30))
    save_weights(model, run / "student.safetensors")
    export_onnx(model, data.val.x[:1], run / "student.onnx")
    return run


def _run_readme(args: list[str], run: Path, extra: list[str] = ()) -> tuple[int, str]:
    from tests.conftest import run_cli

    return run_cli([a.replace("$RUN", str(run)) for a in args] + list(extra))


def test_readme_prune_commands(readme_run, tmp_path, monkeypatch):
    """The structured command as written (its 40 fine-tuning epochs included) keeps the
    student within a few points and reports it; the unstructured one with 2 epochs."""
    monkeypatch.chdir(tmp_path)
    structured, unstructured = _edgekd_lines("prune")
    code, out = _run_readme(structured, readme_run)
    assert code == 0, out
    before, after = (float(v) for v in re.findall(r"val accuracy ([\d.]+)% -> ([\d.]+)%", out)[0])
    assert before - after <= 4.0, out  # 8 epochs at lr 1e-3 used to cost 37 points at 0.5
    assert ("warning: pruning lost" in out) == (before - after > 1.0)
    assert (tmp_path / "student.pruned.pt2").is_file()
    code, out = _run_readme(unstructured, readme_run, ["--epochs", "2"])
    assert code == 0, out
    assert "sparsity 50.0% of Conv/Linear weights are zero" in out
    assert (tmp_path / "student.sparse.safetensors").is_file()


def test_readme_quantize_commands(readme_run, tmp_path, monkeypatch):
    import subprocess
    import sys

    monkeypatch.chdir(tmp_path)
    (py,) = [line for line in COMMANDS if line.startswith("python -c ")]
    import shlex

    subprocess.run([sys.executable, *shlex.split(py)[1:]], check=True, cwd=tmp_path)
    for args in _edgekd_lines("quantize"):
        code, out = _run_readme(args, readme_run)
        assert code == 0, (args, out)
        assert (tmp_path / args[args.index("--out") + 1]).is_file()
