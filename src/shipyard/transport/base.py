"""The one interface every way of reaching a host implements.

Shipyard talks to a host only through `Transport`: run an argv (optionally feeding
stdin), copy a file to it, stream a long-running command's output. The local and SSH
implementations live side by side, so the host-side code path is identical in both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shipyard.errors import ExitCode, ShipyardError


@dataclass(frozen=True)
class CommandResult:
    """What one command did on a host."""

    exit_status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


class TransportError(ShipyardError):
    """A host could not be reached, or the link to it broke (exit 4).

    `host` names the host, `hint` says what the operator can do about it.
    """

    exit_code = ExitCode.UNREACHABLE

    def __init__(self, host: str, message: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.host = host

    def __str__(self) -> str:
        return f"{self.host}: {self.message}"


def reply_too_long_hint(limit: int) -> str:
    """What to do about a reply line over `limit` bytes (the channel was closed)."""
    return (
        f"replies are capped at {limit // (1024 * 1024)} MiB; ask for less "
        "(fewer lines or records, e.g. a smaller -n)"
    )


class Channel(Protocol):
    """A long-running process on a host that answers one line with one line.

    Shipyard keeps one per host for a whole command, so each host operation costs a
    round trip instead of a process start-up.
    """

    async def request(self, line: bytes, timeout: float | None = None) -> bytes:
        """Send one line (ending in a newline) and return the one line that answers it."""
        ...

    async def close(self) -> None:
        """End the process; safe to call twice."""
        ...


class Transport(Protocol):
    """One connection to one host."""

    @property
    def label(self) -> str:
        """How the host is named to the user, e.g. `deploy@10.0.0.5:22` or `local`."""
        ...

    async def connect(self) -> None:
        """Open the connection (a no-op where there is none); raise TransportError."""
        ...

    async def unix_channel(self, path: str) -> Channel:
        """A channel to a program already listening on the host's unix socket `path`
        (the resident agent); raise TransportError if nothing answers there."""
        ...

    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        """Run argv on the host; secrets travel in stdin, never in argv."""
        ...

    async def put(self, local_path: Path, remote_path: str) -> None:
        """Copy a local file to an absolute path on the host (parent must exist)."""
        ...

    async def channel(self, argv: Sequence[str]) -> Channel:
        """Start argv as a line-in, line-out Channel; raise TransportError."""
        ...

    def stream(self, argv: Sequence[str]) -> AsyncIterator[str]:
        """Run argv and yield its stdout line by line until it exits."""
        ...

    async def close(self) -> None:
        """Release the connection; safe to call twice."""
        ...
