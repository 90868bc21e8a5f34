"""Typed errors. Each carries the process exit code the CLI uses (see DESIGN.md).

0 success; 1 the pipeline failed (a stage, a parity gate); 2 bad usage or bad input;
3 a budget was violated and ``--fail-on-budget`` was given; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

from pathlib import Path


class EdgekdError(Exception):
    """Base class: a failure edgekd explains in one message, without a traceback."""

    exit_code = 1


class UsageError(EdgekdError):
    """Bad usage or bad input. The message names the file or field and what was expected."""

    exit_code = 2


class RecipeError(UsageError):
    """A recipe that does not validate: names the field path, the value and what is allowed."""


class DataError(UsageError):
    """A data file that cannot be used: names the file and the row or column."""


class ModelFileError(UsageError):
    """A model file that is missing, corrupt, truncated or of the wrong kind."""


class TargetError(UsageError):
    """An unknown target or a target file that does not validate."""


class MissingBackendError(UsageError):
    """An optional backend is not installed; the message names the extra to install."""


class StageError(EdgekdError):
    """A pipeline stage failed (exit 1)."""


class ParityError(StageError):
    """An exported model disagrees with its parent beyond the tolerance."""


class BudgetError(EdgekdError):
    """A device budget was violated and the user asked to fail on it (exit 3)."""

    exit_code = 3


class Interrupted(EdgekdError):
    """The user interrupted a command (Ctrl-C); the message says what was kept and how to
    continue. Exit 130 (128 + SIGINT), as shells report it."""

    exit_code = 130


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``compress``: the run directory is kept, marked ``interrupted`` in its
    manifest, and ``--resume`` continues it. Still a ``KeyboardInterrupt`` for API callers."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(str(run_dir))
        self.run_dir = Path(run_dir)


def require(module: str, extra: str):
    """Import an optional backend or raise a one-line error naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingBackendError(
            f'{module} is not installed: pip install "edgekd[{extra}]" ({exc})'
        ) from None
