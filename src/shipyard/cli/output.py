"""Printing results: tables for people, JSON for programs.

rich is imported on the first print, not with the CLI: `shipyard --help` and the
commands that print nothing through it never pay for it.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


class LazyConsole:
    """A rich Console made on the first `print` (same arguments as `Console`)."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    @property
    def rich(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def print(self, *objects: Any, **options: Any) -> None:
        self.rich.print(*objects, **options)


# pipes and CI logs get wide tables rather than ellipses
console = LazyConsole(highlight=False, width=None if sys.stdout.isatty() else 160)
errors = LazyConsole(stderr=True, highlight=False, soft_wrap=True)  # evidence never re-wrapped


def when(ts: float | None) -> str:
    if not ts:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def print_json(data: Any) -> None:
    """Typed values (dataclasses) and plain data alike, as indented JSON."""
    from shipyard.protocol.codec import encode

    sys.stdout.write(json.dumps(encode(data), indent=2, default=str) + "\n")


def fail(message: str, hint: str = "", details: list[str] | None = None) -> None:
    """An error for people: what failed, the evidence, what to do. Printed literally."""
    from rich.text import Text

    for line in details or []:
        errors.print(line, markup=False)
    errors.print(Text.assemble(("error:", "bold red"), " ", message))
    if hint:
        errors.print(f"  hint: {hint}", markup=False)


def table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.table import Table
    from rich.text import Text

    grid = Table(title=title, title_justify="left", show_edge=False)
    for column in columns:
        grid.add_column(column)
    for row in rows:
        grid.add_row(*(Text(cell) for cell in row))  # outside text: never markup
    console.print(grid)
