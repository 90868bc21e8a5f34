"""Terminal tables that fit: every cell on one line, columns dropped by priority when the
terminal is too narrow (and said so), long lists wrapped between items, never inside one.

Only ``rich`` is imported (lazily); the numbers are formatted by ``edgekd.report.fmt`` so the
terminal, Markdown and HTML show the same units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Pipes and log files get this width: wide enough for every table, narrow enough to read.
PIPE_WIDTH = 120


@dataclass(frozen=True)
class Col:
    """A column: header, alignment, and priority (0 = always shown; higher = dropped first)."""

    name: str
    right: bool = False
    priority: int = 0


def console(width: int | None = None) -> Any:
    """A rich Console; one that is not a terminal (pipe, log) is ``PIPE_WIDTH`` wide."""
    from rich.console import Console

    if width is not None:
        return Console(width=width)
    con = Console()
    return con if con.is_terminal else Console(width=PIPE_WIDTH)


def _table(title: str, cols: list[Col], rows: list[list[str]]) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(
        title=title, box=box.SIMPLE_HEAD, show_edge=False, collapse_padding=True,
        title_justify="left",
    )  # fmt: skip
    for c in cols:
        table.add_column(c.name, justify="right" if c.right else "left", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return table


def fit_table(
    con: Any, title: str, cols: list[Col], rows: list[list[str]]
) -> tuple[Any, list[str]]:
    """A table no wider than ``con``: drop the highest-priority columns until every cell fits
    on one line, then put back any dropped column that still fits. Returns the table and the
    names of the columns left out."""
    from rich.measure import Measurement

    def build(keep: list[int]) -> Any:
        return _table(title, [cols[i] for i in keep], [[r[i] for i in keep] for r in rows])

    def fits(keep: list[int]) -> bool:
        table = build(keep)
        return Measurement.get(con, con.options.update_width(1 << 16), table).maximum <= con.width

    keep = list(range(len(cols)))
    dropped: list[int] = []
    while not fits(keep):
        droppable = [i for i in keep if cols[i].priority > 0]
        if not droppable:
            break
        drop = max(droppable, key=lambda i: (cols[i].priority, i))
        keep.remove(drop)
        dropped.append(drop)
    for i in reversed(dropped):  # most important first
        trial = sorted([*keep, i])
        if fits(trial):
            keep = trial
    hidden = [cols[i].name for i in range(len(cols)) if i not in keep]
    return build(keep), hidden


def print_table(con: Any, title: str, cols: list[Col], rows: list[list[str]]) -> None:
    """Print a fitted table and, if columns were left out, one line naming them."""
    table, hidden = fit_table(con, title, cols, rows)
    con.print()
    con.print(table)
    if hidden:
        con.print(f"[dim](hidden at {con.width} columns: {', '.join(hidden)})[/]", highlight=False)


def wrap_items(label: str, items: list[str], width: int) -> list[str]:
    """``label item, item, ...`` broken into lines of at most ``width`` characters, only
    between items (an item is never split); continuation lines are indented."""
    lines, line = [], label
    indent = " " * min(len(label), 4)
    for i, item in enumerate(items):
        piece = item + ("," if i < len(items) - 1 else "")
        sep = "" if line == indent else " "
        if len(line) + len(sep) + len(piece) > width and line not in (label, indent):
            lines.append(line)
            line, sep = indent, ""
        line += sep + piece
    lines.append(line)
    return lines
