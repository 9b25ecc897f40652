"""Read one reply line of any size up to a bound, from any byte stream.

asyncio's `StreamReader.readline` stops at 64 KiB, and asyncssh's hands back a partial
line once its 2 MiB window fills; a host's reply (a long history, `logs -n 2000`) can be
larger than either. `LineReader` reads chunks and keeps them until the newline, up to
`limit` bytes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

CHUNK = 256 * 1024


class LineTooLong(Exception):
    """A line passed the limit before its newline; the stream is out of step."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"a line over {limit // (1024 * 1024)} MiB")
        self.limit = limit


class LineReader:
    """Lines from `read(n)` (which returns b"" at end of stream)."""

    def __init__(self, read: Callable[[int], Awaitable[bytes]], limit: int) -> None:
        self._read = read
        self._limit = limit
        self._buffer = bytearray()

    async def readline(self) -> bytes:
        """The next line with its newline; at the end of the stream, what is left (b""
        if nothing). Raises LineTooLong past the limit."""
        searched = 0
        while (end := self._buffer.find(b"\n", searched)) < 0:
            if len(self._buffer) > self._limit:
                raise LineTooLong(self._limit)
            searched = len(self._buffer)
            chunk = await self._read(CHUNK)
            if not chunk:
                line, self._buffer = bytes(self._buffer), bytearray()
                return line
            self._buffer += chunk
        if end > self._limit:
            raise LineTooLong(self._limit)
        line = bytes(self._buffer[: end + 1])
        del self._buffer[: end + 1]
        return line
