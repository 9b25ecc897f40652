"""A small HTTP/1.1 GET over asyncio streams, for plain http:// checks.

500 checks every 10 s are 50 requests a second; through httpx each costs milliseconds of
CPU (its pool, anyio, h11), which alone would break serve's budget of 5 % of one core.
This client does only what a check needs: one GET per connection (`Connection: close`),
the status, and at most `max_body` bytes of the body (Content-Length, chunked, or up to
the close). https:// stays with httpx (certificate checks, TLS).
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


class BadResponse(Exception):
    """The server's answer is not HTTP we can read."""


async def get(
    url: str, headers: dict[str, str], timeout: float, max_body: int
) -> tuple[int, bytes]:
    """(status, body). Raises TimeoutError, OSError (ConnectionRefusedError...) or
    BadResponse."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = headers.get("Host") or (parts.netloc.rsplit("@", 1)[-1])
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: shipyard-serve\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    ).encode("latin-1")
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port, limit=65536)
        try:
            writer.write(request)
            return await _response(reader, max_body)
        finally:
            writer.close()


async def _response(reader: asyncio.StreamReader, max_body: int) -> tuple[int, bytes]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise BadResponse("the server closed the connection without answering") from exc
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
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return status, await _chunked(reader, max_body)
    length = fields.get("content-length")
    if length is not None and length.isdigit():
        want = min(int(length), max_body)
        try:
            return status, await reader.readexactly(want)
        except asyncio.IncompleteReadError as exc:
            return status, exc.partial
    return status, await reader.read(max_body)


async def _chunked(reader: asyncio.StreamReader, max_body: int) -> bytes:
    body = bytearray()
    while len(body) < max_body:
        size_line = await reader.readline()
        try:
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
        except ValueError as exc:
            raise BadResponse("bad chunked encoding") from exc
        if size == 0:
            break
        try:
            body += await reader.readexactly(size)
        except asyncio.IncompleteReadError as exc:
            body += exc.partial
            break
        await reader.readline()
    return bytes(body[:max_body])
