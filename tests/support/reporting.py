"""A Reporter for unit tests that keeps every line it was given, to assert on."""

from __future__ import annotations


class LineReporter:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def phase(self, host: str, phase: str, status: str, detail: str = "") -> None:
        self.lines.append(f"{host} {phase} {status} {detail}".strip())

    def info(self, message: str) -> None:
        self.lines.append(message)

    def close(self) -> None:
        pass
