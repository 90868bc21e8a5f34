"""The completions group is registered without heavy imports, and the API mirrors it."""

from __future__ import annotations

import subprocess
import sys

import edgekd

HEAVY = ("torch", "transformers", "openai", "numpy", "tensorflow", "onnxruntime", "gguf")


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import sys; from edgekd.cli import main; main(['completions', '--help']); "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert "generate" in out.stdout and "import" in out.stdout


def test_api_names_mirror_the_commands() -> None:
    for name in (
        "import_completions",
        "pull_completions",
        "generate_completions",
        "completions_stats",
        "eval_completions",
        "read_completions",
    ):
        assert callable(getattr(edgekd, name)), name
