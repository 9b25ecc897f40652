"""A Channel over a byte stream: the resident host agent's unix socket, reached on this
machine or forwarded through an SSH connection (direct-streamlocal)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

from shipyard.transport.base import TransportError


class Reader(Protocol):
    async def readline(self) -> bytes: ...


class Writer(Protocol):
    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> Any: ...

    async def wait_closed(self) -> None: ...


class StreamChannel:
    """One line out, one line back, on an open stream (asyncio's or asyncssh's)."""

    def __init__(self, reader: Reader, writer: Writer, label: str, what: str) -> None:
        self.reader = reader
        self.writer = writer
        self.label = label
        self.what = what
        self._closed = False

    async def request(self, line: bytes, timeout: float | None = None) -> bytes:
        if self._closed:
            raise TransportError(self.label, f"{self.what} is closed", "run it again")
        try:
            async with asyncio.timeout(timeout):
                self.writer.write(line)
                await self.writer.drain()
                reply = await self.reader.readline()
        except TimeoutError:
            await self.close()
            raise TransportError(
                self.label, f"{self.what} did not answer within {timeout:g}s", "it was closed"
            ) from None
        except (OSError, EOFError) as exc:
            await self.close()
            raise TransportError(self.label, f"{self.what} failed: {exc}", "run it again") from None
        if not reply:
            await self.close()
            raise TransportError(self.label, f"{self.what} closed the connection", "run it again")
        return reply

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 5)
