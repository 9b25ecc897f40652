"""A TCP forwarder on loopback whose live connections a test can cut, mid-operation.

    with LinkCut(("127.0.0.12", 2222), listen_host="127.0.0.12") as link:
        # point the environment's host at link.port instead of 2222, then:
        link.cut()                         # every live connection is reset, now
        link.cut_after(upstream_bytes=n)   # ... once n more bytes went client -> server

A cut resets both sides (SO_LINGER 0, then close: a TCP RST, no FIN), so each end sees
its connection drop as it would when a network path dies. New connections are still
forwarded after a cut, so the next deploy can reach the host again; `refuse()` makes the
forwarder reset every new connection as well, until `accept()`.

The forwarder runs an asyncio loop in a background thread; it only listens on and
connects to loopback addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

_CHUNK = 64 * 1024
T = TypeVar("T")


def _check_loopback(host: str) -> None:
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"{host} is not a loopback address")


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close abruptly: an RST to the peer, whatever is still buffered is dropped."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class LinkCut:
    """Forward LISTEN_HOST:port -> target, until stopped; cut live connections on demand."""

    def __init__(
        self, target: tuple[str, int], listen_host: str = "127.0.0.1", listen_port: int = 0
    ) -> None:
        _check_loopback(target[0])
        _check_loopback(listen_host)
        self.target = target
        self.listen_host = listen_host
        self.port = listen_port
        self.connections_total = 0
        self.cuts = 0  # connections cut so far
        self.upstream_bytes = 0  # client -> server, over all connections
        self.cut_done = threading.Event()  # set when an armed cut (cut_after) fired
        self._links: set[_Link] = set()
        self._cut_at: int | None = None
        self._refusing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._failed: BaseException | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self.listen_host, self.port

    @property
    def live(self) -> int:
        """Connections being forwarded right now."""
        return self._call(lambda: len(self._links))

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> LinkCut:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="linkcut", daemon=True)
        self._thread.start()
        if not self._started.wait(10) or self._failed is not None:
            raise RuntimeError(f"the forwarder did not start: {self._failed}")

    def stop(self) -> None:
        """Stop listening and reset every live connection."""
        if self._loop is None or self._thread is None:
            return
        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._thread.join(10)

    # -- faults ---------------------------------------------------------------------------

    def cut(self) -> int:
        """Reset every live connection now; return how many were cut."""
        return self._call(self._cut_all)

    def cut_after(self, upstream_bytes: int) -> None:
        """Arm a cut: reset every live connection once `upstream_bytes` more bytes have
        gone from client to server (e.g. part way into an upload). `cut_done` is set then."""
        self.cut_done.clear()
        self._call(lambda: setattr(self, "_cut_at", self.upstream_bytes + upstream_bytes))

    def disarm(self) -> None:
        """Cancel a cut armed with cut_after() that has not fired."""
        self._call(lambda: setattr(self, "_cut_at", None))

    def refuse(self) -> None:
        """Reset new connections at once (the host looks unreachable) until accept()."""
        self._refusing = True

    def accept(self) -> None:
        self._refusing = False

    # -- the loop ---------------------------------------------------------------------------

    def _call(self, fn: Callable[[], T]) -> T:
        """Run fn() on the forwarder's loop (all state is owned by it); return its result."""
        assert self._loop is not None

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self._failed = exc
            self._started.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._handle, self.listen_host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._started.set()
        async with self._server:
            with contextlib.suppress(asyncio.CancelledError):
                await self._server.serve_forever()

    async def _shutdown(self) -> None:
        self._cut_all()
        if self._server is not None:
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections_total += 1
        if self._refusing:
            _reset(writer)
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _reset(writer)
            return
        link = _Link(writer, server_writer)
        self._links.add(link)
        link.tasks = [
            asyncio.create_task(self._pump(link, reader, server_writer, upstream=True)),
            asyncio.create_task(self._pump(link, server_reader, writer, upstream=False)),
        ]
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*link.tasks, return_exceptions=True)
        self._links.discard(link)
        for side in (writer, server_writer):
            side.close()

    async def _pump(
        self,
        link: _Link,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        upstream: bool,
    ) -> None:
        try:
            while data := await reader.read(_CHUNK):
                if upstream:
                    self.upstream_bytes += len(data)
                    if self._cut_at is not None and self.upstream_bytes >= self._cut_at:
                        # forward only what fits before the mark, then cut
                        keep = len(data) - (self.upstream_bytes - self._cut_at)
                        writer.write(data[: max(0, keep)])
                        self._cut_at = None
                        self._cut_all()
                        self.cut_done.set()
                        return
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()  # a clean half-close is passed on as one
        except (ConnectionError, OSError):
            for side in (link.client, link.server):
                _reset(side)

    def _cut_all(self) -> int:
        links = list(self._links)
        for link in links:
            _reset(link.client)
            _reset(link.server)
            for task in link.tasks:
                if task is not asyncio.current_task():
                    task.cancel()
        self._links.clear()
        self.cuts += len(links)
        return len(links)
