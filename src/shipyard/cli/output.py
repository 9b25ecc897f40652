"""Printing results: tables for people, JSON for programs."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from shipyard.execute.hostclient import HostError
from shipyard.execute.redact import redact

# pipes and CI logs get wide tables rather than ellipses
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)


def when(ts: float | None) -> str:
    if not ts:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def fail(message: str, hint: str = "") -> None:
    errors.print(f"[bold red]error:[/] {message}", markup=True)
    if hint:
        errors.print(f"  hint: {hint}", markup=False)


def host_errors(failures: list[HostError], secrets: list[str]) -> None:
    """Show each failing host with the evidence: probes and the slot's last log lines."""
    for error in failures:
        errors.print(f"[red]✗ {error.host}[/] ({error.op}): {redact(error.message, secrets)}")
        probes = error.evidence.get("probes") or []
        if probes:
            errors.print("  last probes:", markup=False)
            for probe in probes[-5:]:
                outcome = (
                    f"HTTP {probe['status']}" if probe["status"] is not None else probe["error"]
                )
                errors.print(
                    f"    GET {probe['url']} -> {outcome} ({probe['elapsed_ms']:.0f} ms)",
                    markup=False,
                )
        lines = error.evidence.get("log_tail") or []
        if lines:
            errors.print(f"  last {len(lines)} log lines:", markup=False)
            for line in lines:
                errors.print("    | " + redact(line, secrets), markup=False)
        if error.hint:
            errors.print(f"  hint: {redact(error.hint, secrets)}", markup=False)


def table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    grid = Table(title=title, title_justify="left", show_edge=False)
    for column in columns:
        grid.add_column(column)
    for row in rows:
        grid.add_row(*row)
    console.print(grid)
