"""What the operator sees: live per-host, per-phase progress, or plain lines in CI.

Plain lines are written as they are (no rich: a command that prints plain lines never
imports it); the live table loads rich when it starts.
"""

from __future__ import annotations

import sys
import time
from typing import IO, TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text


class Reporter(Protocol):
    def phase(self, host: str, phase: str, status: str, detail: str = "") -> None: ...

    def info(self, message: str) -> None: ...

    def close(self) -> None: ...


class SilentReporter:
    """A Reporter that shows nothing: for readers in the background (`shipyard serve`)."""

    def phase(self, host: str, phase: str, status: str, detail: str = "") -> None:
        pass

    def info(self, message: str) -> None:
        pass

    def close(self) -> None:
        pass


def plain_output() -> bool:
    from shipyard.core.ci import in_ci

    return in_ci() or not sys.stdout.isatty()


class PlainReporter:
    """One line per event; what CI logs and pipes get."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream
        self.started = time.monotonic()

    def _line(self, text: str) -> None:
        stream = self.stream or sys.stdout
        stream.write(text + "\n")
        stream.flush()

    def phase(self, host: str, phase: str, status: str, detail: str = "") -> None:
        elapsed = time.monotonic() - self.started
        tail = f" {detail}" if detail else ""
        self._line(f"[{elapsed:6.2f}s] {host} {phase} {status}{tail}")

    def info(self, message: str) -> None:
        self._line(message)

    def close(self) -> None:
        pass


class LiveReporter:
    """A table of hosts x phases, redrawn in place on a terminal."""

    def __init__(self, console: Console | None = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console()
        self.rows: dict[str, dict[str, Text]] = {}
        self.phases: list[str] = []
        self.live = Live(self._table(), console=self.console, refresh_per_second=10)
        self.live.start()

    def _table(self) -> Table:
        from rich.table import Table
        from rich.text import Text

        table = Table(show_edge=False, pad_edge=False)
        table.add_column("host")
        for phase in self.phases:
            table.add_column(Text(phase))
        for host, cells in self.rows.items():
            table.add_row(Text(host), *(cells.get(phase, Text("")) for phase in self.phases))
        return table

    def phase(self, host: str, phase: str, status: str, detail: str = "") -> None:
        if phase not in self.phases:
            self.phases.append(phase)
        from rich.text import Text

        marks = {"start": ("…", "yellow"), "ok": ("✓", "green"), "failed": ("✗", "red")}
        text = Text.assemble(marks.get(status, (status, "")))  # host text: never markup
        if detail:
            text.append(f" {detail}")
        self.rows.setdefault(host, {})[phase] = text
        self.live.update(self._table())

    def info(self, message: str) -> None:
        self.live.console.print(message, markup=False, highlight=False)

    def close(self) -> None:
        self.live.stop()


def make_reporter() -> Reporter:
    return PlainReporter() if plain_output() else LiveReporter()
