"""Printing results: tables for people, JSON for programs.

rich is imported on the first print, not with the CLI: `shipyard --help` and the
commands that print nothing through it never pay for it.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text


# what rich would change in a literal line: tabs, control characters, :emoji: codes
_NOT_PLAIN = re.compile(r"[\x00-\x1f\x7f]|:[a-z0-9_+-]+:")


class LazyConsole:
    """A rich Console made on the first `print` that needs one (same arguments as
    `Console`). A literal line (`markup=False`) that rich would print unchanged (it fits
    the width; no tab, control character or :emoji: code) is written as it is, without
    importing rich: most commands end with one such line."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def _stream(self) -> IO[str]:
        return sys.stderr if self._options.get("stderr") else sys.stdout

    def _plain(self, objects: tuple[Any, ...], options: dict[str, Any]) -> str | None:
        if self._console is not None or options.get("markup", True) is not False:
            return None
        if set(options) - {"markup", "soft_wrap"} or len(objects) != 1:
            return None
        (text,) = objects
        if not isinstance(text, str) or _NOT_PLAIN.search(text):
            return None
        width = self._options.get("width")
        soft = options.get("soft_wrap", self._options.get("soft_wrap", False))
        if not soft and (width is None or len(text) > width):
            return None  # rich would wrap it (or measure the terminal)
        return text

    @property
    def rich(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def print(self, *objects: Any, **options: Any) -> None:
        plain = self._plain(objects, options)
        if plain is None:
            self.rich.print(*objects, **options)
            return
        stream = self._stream()
        stream.write(plain + "\n")
        stream.flush()


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


def table(title: str, columns: list[str], rows: Sequence[Sequence[str | Text]]) -> None:
    """A table; str cells print literally (outside text is never markup), styled cells
    come as rich Text."""
    from rich.table import Table
    from rich.text import Text

    grid = Table(title=Text(title), title_justify="left", show_edge=False)
    for column in columns:
        grid.add_column(Text(column))
    for row in rows:
        grid.add_row(*(cell if isinstance(cell, Text) else Text(cell) for cell in row))
    console.print(grid)
