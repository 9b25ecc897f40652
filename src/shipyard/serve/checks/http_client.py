"""A small HTTP/1.1 GET over asyncio streams, for plain http:// checks.

500 checks every 10 s are 50 requests a second; through httpx each costs milliseconds of
CPU (its pool, anyio, h11), which alone would break serve's budget of 5 % of one core.
This client does only what a check needs: a GET, the status, and at most `max_body`
bytes of the body (Content-Length, chunked, or up to the close). Connections are kept
alive and reused for the next check of the same host and port (most checks of an
environment go to the same nginx), for at most `IDLE_SECONDS`; a reused connection that
fails before any answer is retried once on a new one, so a server closing an idle
connection never shows as a failed check. https:// stays with httpx (TLS).
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

IDLE_SECONDS = 4.0  # under the keep-alive timeout of common servers (nginx: 75 s)
MAX_IDLE_PER_SERVER = 8


class BadResponse(Exception):
    """The server's answer is not HTTP we can read."""


class _Stale(Exception):
    """A reused connection gave no answer: the server had closed it."""


_Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Pool:
    """Idle keep-alive connections per (host, port), for one event loop."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[tuple[float, _Connection]]] = {}

    def take(self, key: tuple[str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            since, (reader, writer) = idle.pop()
            if now - since < IDLE_SECONDS and not writer.is_closing() and not reader.at_eof():
                return reader, writer
            writer.close()
        return None

    def give(self, key: tuple[str, int], connection: _Connection) -> None:
        idle = self._idle.setdefault(key, [])
        if len(idle) >= MAX_IDLE_PER_SERVER:
            connection[1].close()
            return
        idle.append((time.monotonic(), connection))

    def close(self) -> None:
        for idle in self._idle.values():
            for _, (_, writer) in idle:
                writer.close()
        self._idle.clear()


async def get(
    url: str, headers: dict[str, str], timeout: float, max_body: int, pool: Pool | None = None
) -> tuple[int, bytes]:
    """(status, body). Raises TimeoutError, OSError (ConnectionRefusedError...) or
    BadResponse."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = headers.get("Host") or (parts.netloc.rsplit("@", 1)[-1])
    connection = "keep-alive" if pool is not None else "close"
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: shipyard-serve\r\n"
        f"Accept: */*\r\nConnection: {connection}\r\n\r\n"
    ).encode("latin-1")
    key = (host, port)
    async with asyncio.timeout(timeout):
        reused = pool.take(key) if pool is not None else None
        if reused is not None:
            try:
                return await _exchange(reused, request, max_body, pool, key, reused=True)
            except (_Stale, ConnectionError):
                pass  # the server had closed it: once more on a new connection
        fresh = await asyncio.open_connection(host, port, limit=65536)
        try:
            return await _exchange(fresh, request, max_body, pool, key, reused=False)
        except _Stale:
            raise BadResponse("the server closed the connection without answering") from None


async def _exchange(
    connection: _Connection,
    request: bytes,
    max_body: int,
    pool: Pool | None,
    key: tuple[str, int],
    *,
    reused: bool,
) -> tuple[int, bytes]:
    reader, writer = connection
    keep = False
    try:
        writer.write(request)
        status, body, keep = await _response(reader, max_body)
        return status, body
    finally:
        if keep and pool is not None:
            pool.give(key, connection)
        else:
            writer.close()


async def _response(reader: asyncio.StreamReader, max_body: int) -> tuple[int, bytes, bool]:
    """(status, body, whether the connection can be reused)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise _Stale from exc
        raise BadResponse("the server closed the connection in the middle of its answer") from exc
    except asyncio.LimitOverrunError as exc:
        raise BadResponse("response headers over 64 KiB") from exc
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if (
        len(status_line) < 2
        or not status_line[0].startswith("HTTP/")
        or not status_line[1].isdigit()
    ):
        raise BadResponse(f"not an HTTP response: {lines[0][:60]!r}")
    status = int(status_line[1])
    fields = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    reusable = lines[0].startswith("HTTP/1.1") and "close" not in fields.get("connection", "")
    if "chunked" in fields.get("transfer-encoding", "").lower():
        body, complete = await _chunked(reader, max_body)
        return status, body, reusable and complete
    length = fields.get("content-length")
    if length is not None and length.isdigit():
        want = min(int(length), max_body)
        try:
            return status, await reader.readexactly(want), reusable and want == int(length)
        except asyncio.IncompleteReadError as exc:
            return status, exc.partial, False
    return status, await reader.read(max_body), False


async def _chunked(reader: asyncio.StreamReader, max_body: int) -> tuple[bytes, bool]:
    """The body, and whether it was read to its end (the connection can be reused)."""
    body = bytearray()
    complete = False
    while len(body) < max_body:
        size_line = await reader.readline()
        try:
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
        except ValueError as exc:
            raise BadResponse("bad chunked encoding") from exc
        if size == 0:
            await reader.readline()  # the blank line after the last chunk (no trailers)
            complete = True
            break
        try:
            body += await reader.readexactly(size)
        except asyncio.IncompleteReadError as exc:
            body += exc.partial
            break
        await reader.readline()
    return bytes(body[:max_body]), complete
