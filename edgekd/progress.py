"""Progress reporting for long work, decoupled from any terminal library.

The pipeline calls ``reporter.task(description, total)`` and advances the returned handle;
the CLI passes a rich-backed reporter, the Python API a silent one by default.
"""

from __future__ import annotations

from typing import Any, Protocol


class Task(Protocol):
    def update(self, completed: int, info: str = "") -> None: ...

    def close(self) -> None: ...


class Reporter(Protocol):
    def task(self, description: str, total: int) -> Task: ...

    def log(self, message: str) -> None: ...


def epoch_info(info: dict[str, float]) -> str:
    """A training callback's numbers as a progress bar's text: ``loss=0.1234 val_acc=0.9500``."""
    return " ".join(f"{k}={v:.4f}" for k, v in info.items())


class _NullTask:
    def update(self, completed: int, info: str = "") -> None:
        pass

    def close(self) -> None:
        pass


class NullReporter:
    """Reports nothing (the Python API's default and ``--quiet``)."""

    def task(self, description: str, total: int) -> Task:
        return _NullTask()

    def log(self, message: str) -> None:
        pass

    def close(self) -> None:
        pass


class RichReporter:
    """Progress bars and messages on stderr with rich."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self._live: list[Any] = []

    def task(self, description: str, total: int) -> Task:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        progress = Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"),
            console=self.console,
            transient=False,
        )
        progress.start()
        self._live.append(progress)
        tid = progress.add_task(description, total=total, info="")
        return _RichTask(progress, tid)

    def log(self, message: str) -> None:
        self.console.print(message)

    def close(self) -> None:
        """Stop every bar still drawing (a stage that raised or was interrupted never closed
        its task); otherwise the terminal keeps a hidden cursor."""
        for progress in self._live:
            progress.stop()
        self._live.clear()


class _RichTask:
    def __init__(self, progress: Any, tid: Any) -> None:
        self.progress, self.tid = progress, tid

    def update(self, completed: int, info: str = "") -> None:
        self.progress.update(self.tid, completed=completed, info=info)

    def close(self) -> None:
        self.progress.stop()
