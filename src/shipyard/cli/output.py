"""Printing results: tables for people, JSON for programs."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from shipyard.protocol.codec import encode

# pipes and CI logs get wide tables rather than ellipses
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True, highlight=False, soft_wrap=True)  # evidence is never re-wrapped


def when(ts: float | None) -> str:
    if not ts:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def print_json(data: Any) -> None:
    """Typed values (dataclasses) and plain data alike, as indented JSON."""
    sys.stdout.write(json.dumps(encode(data), indent=2, default=str) + "\n")


def fail(message: str, hint: str = "", details: list[str] | None = None) -> None:
    """An error for people: what failed, the evidence, what to do. Printed literally."""
    for line in details or []:
        errors.print(line, markup=False)
    errors.print(Text.assemble(("error:", "bold red"), " ", message))
    if hint:
        errors.print(f"  hint: {hint}", markup=False)


def table(title: str, columns: list[str], rows: Sequence[Sequence[str | Text]]) -> None:
    """A table; str cells print literally (outside text is never markup), styled cells
    come as rich Text."""
    grid = Table(title=Text(title), title_justify="left", show_edge=False)
    for column in columns:
        grid.add_column(Text(column))
    for row in rows:
        grid.add_row(*(cell if isinstance(cell, Text) else Text(cell) for cell in row))
    console.print(grid)
