"""Dependency noise on stdout/stderr, silenced where it is made.

edgekd's output is its own: progress bars, tables and one-line messages. The libraries under it
print notices that are not the user's business (TensorFlow Lite converter logs, torchao failing
to load CUDA-only kernels on a CPU build of torch, deprecation warnings inside torch.export).
Each source is handled at its origin:

- C++ logging reads environment variables when the library loads: :func:`quiet_backend_env`
  sets them, never overriding the user's own, before any backend is imported (the CLI calls it
  first; ``--debug`` leaves everything on).
- Python loggers and warnings are silenced only around the calls that emit them
  (:func:`quiet_calls`), by logger name and message, never wholesale.
- LiteRT prints ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`` from C++ once per
  process, with no setting to turn it off (TFLite's minimal logging has no environment variable
  or Python API): :func:`drop_stderr_lines` removes that one line while an interpreter is
  allocated, and passes every other line through.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager

BACKEND_ENV: Mapping[str, str] = {
    # TensorFlow/LiteRT converter C++ logs below ERROR: "I0000 ... flatbuffer_export.cc] ..."
    "TF_CPP_MIN_LOG_LEVEL": "2",
    # the converter's TensorFlow kernels take the reference path instead of oneDNN's (the same
    # results on every x86 CPU); this also removes its "oneDNN custom operations are on" notice
    # and the absl "All log messages before absl::InitializeLog()" preamble printed with it
    "TF_ENABLE_ONEDNN_OPTS": "0",
}

# Python loggers that announce what does not concern an edgekd user, silenced below ERROR
NOISY_LOGGERS = (
    "torchao",  # "Failed to load .../torchao/_C_mxfp8...so": CUDA-only kernels, CPU torch here
    "torch.utils._pytree",  # torchao registers an Enum as a pytree constant (deprecated)
)
# (message regex, category): warnings raised inside a dependency about its own internals
NOISY_WARNINGS: tuple[tuple[str, type[Warning]], ...] = (
    # torch.export copies TreeSpecs that litert-torch/torchao still build the old way
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning),
)


def quiet_backend_env(environ: MutableMapping[str, str] | None = None) -> None:
    """Set :data:`BACKEND_ENV` where the user has not set those variables themselves."""
    env = os.environ if environ is None else environ
    for key, value in BACKEND_ENV.items():
        env.setdefault(key, value)


@contextmanager
def quiet_calls() -> Iterator[None]:
    """Run a block with :data:`NOISY_LOGGERS` at ERROR and :data:`NOISY_WARNINGS` ignored,
    restoring both afterwards."""
    loggers = [logging.getLogger(name) for name in NOISY_LOGGERS]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        for message, category in NOISY_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=category)
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)


@contextmanager
def drop_stderr_lines(*needles: str) -> Iterator[list[str]]:
    """Capture file descriptor 2 during the block (C++ writes there directly), then write every
    captured line back to stderr except those containing one of ``needles``.

    Yields the list of dropped lines (filled when the block ends). Where fd 2 cannot be
    redirected, the block runs unchanged.
    """
    dropped: list[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield dropped
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield dropped
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", "replace")
            for line in text.splitlines(keepends=True):
                if any(n in line for n in needles):
                    dropped.append(line.rstrip("\n"))
                else:
                    sys.stderr.write(line)
            sys.stderr.flush()
