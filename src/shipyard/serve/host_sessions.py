"""Host agent sessions kept open across serve's reads of the hosts.

serve reads every host many times a minute: the dashboard's live view (events, status,
records) every few seconds, the deploy watch every `serve.poll_interval`, resources every
`sample_interval`, backups every few minutes. Each read is a `Session` of its own
(execute/queries.py); opened through `connect_host`, each meant a new SSH connection
and a new host agent (a Python process on the host) for one or two requests.

`HostSessions` is the HostFactory serve gives those reads instead: one client per host,
connected, its agent channel open, lent to every read's Session; the lent host's
`close()` hands it back. A read that failed on a host (any HostError, a mismatched
version, a cancelled request) drops that client: it is closed, and the next read opens a
new one, so a host that went away, an agent that died or a newer Shipyard on the host is
picked up at the next read. At most `limit` hosts are kept (the least recently used one
beyond that is closed once no read holds it), and `close()` closes them all at shutdown.

The clients are shared, so they are made with the first read's redaction; serve's reads
carry no secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from shipyard import __version__
from shipyard.config.model import Environment, HostEntry
from shipyard.execute.hostclient import Host, HostFactory, Redactor, connect_host
from shipyard.protocol.inspect import LogsRequest
from shipyard.protocol.op import PROTOCOL_VERSION, Op, Rep, Req
from shipyard.protocol.records import HelloReply, HelloRequest

T = TypeVar("T")

LIMIT = 64  # hosts kept open at once

Key = tuple[str, str]  # (environment, host address)


@dataclass
class _Kept:
    host: Host
    make: Callable[[], Host]  # a new client for the same host
    lent: int = 0  # reads holding it now
    greeted: bool = False  # it answered a read's hello: its channel was open
    dropped: bool = False  # closed, or to be closed when the last read hands it back


class HostSessions:
    """A HostFactory whose hosts stay open across reads (see the module's text)."""

    def __init__(self, factory: HostFactory = connect_host, *, limit: int = LIMIT) -> None:
        self.factory = factory
        self.limit = limit
        self.opened = 0  # clients made: one per host, plus one per reconnection
        self._kept: OrderedDict[Key, _Kept] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()

    def __call__(self, env: Environment, entry: HostEntry, redact: Redactor) -> Host:
        key = (env.name, entry.address)
        kept = self._kept.get(key)
        if kept is None:
            kept = self._open(key, lambda: self.factory(env, entry, redact))
        self._kept.move_to_end(key)
        return _Lent(self, key, self._lend(kept))

    def _open(self, key: Key, make: Callable[[], Host]) -> _Kept:
        kept = _Kept(make(), make)
        self._kept[key] = kept
        self.opened += 1
        while len(self._kept) > self.limit:
            _, oldest = self._kept.popitem(last=False)
            self._drop(oldest)
        return kept

    def _lend(self, kept: _Kept) -> _Kept:
        kept.lent += 1
        return kept

    def _renew(self, key: Key, kept: _Kept) -> _Kept:
        """A new client in place of `kept` (handed back as failed), lent at once."""
        self._hand_back(key, kept, failed=True)
        current = self._kept.get(key)
        return self._lend(current if current is not None else self._open(key, kept.make))

    @property
    def open_hosts(self) -> list[Key]:
        return list(self._kept)

    def _drop(self, kept: _Kept) -> None:
        kept.dropped = True
        if kept.lent == 0:
            task = asyncio.get_running_loop().create_task(_close(kept.host))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def _hand_back(self, key: Key, kept: _Kept, *, failed: bool) -> None:
        kept.lent -= 1
        if failed and not kept.dropped:
            if self._kept.get(key) is kept:
                del self._kept[key]
            self._drop(kept)
        elif kept.dropped and kept.lent == 0:
            self._drop(kept)

    async def close(self) -> None:
        """Close every kept host (at shutdown), and wait for those being closed."""
        kept, self._kept = list(self._kept.values()), OrderedDict()
        for one in kept:
            one.dropped = True
        await asyncio.gather(*(_close(k.host) for k in kept), *self._closing)


async def _close(host: Host) -> None:
    with contextlib.suppress(Exception):  # a host already gone: nothing left to close
        await host.close()


class _Lent:
    """One read's use of a kept host: a Host whose `close()` hands it back."""

    def __init__(self, owner: HostSessions, key: Key, kept: _Kept) -> None:
        self._owner = owner
        self._key = key
        self._kept = kept
        self._failed = False
        self._returned = False
        self._reused = kept.greeted  # open since an earlier read: its channel may be stale
        self.entry = kept.host.entry

    @property
    def label(self) -> str:
        return self._kept.host.label

    async def connect(self) -> None:
        await self._watch(self._kept.host.connect())

    async def hello(self, request: HelloRequest) -> HelloReply:
        """The read's first request. On a client kept from an earlier read, a failure is
        most likely its channel gone stale (the agent ended, the SSH connection dropped
        while idle): then once more, on a new client."""
        try:
            reply = await self._kept.host.hello(request)
        except Exception:
            if not self._reused:
                self._failed = True
                raise
            self._reused = False
            self._kept = self._owner._renew(self._key, self._kept)
            await self._watch(self._kept.host.connect())
            reply = await self._watch(self._kept.host.hello(request))
        except BaseException:  # cancelled
            self._failed = True
            raise
        self._kept.greeted = True
        if reply.version != __version__ or reply.protocol != PROTOCOL_VERSION:
            self._failed = True  # the Session refuses it; a new agent may run the new one
        return reply

    async def call(
        self, op: Op[Req, Rep], request: Req, *, timeout: float | None = None, oneshot: bool = False
    ) -> Rep:
        return await self._watch(
            self._kept.host.call(op, request, timeout=timeout, oneshot=oneshot)
        )

    async def upload(self, local_path: Path, remote_path: str) -> None:
        await self._watch(self._kept.host.upload(local_path, remote_path))

    async def follow_logs(self, request: LogsRequest) -> AsyncIterator[str]:
        try:
            async for line in self._kept.host.follow_logs(request):
                yield line
        except BaseException:
            self._failed = True
            raise

    def lane(self) -> Host:
        """The kept host's own lane (serve's reads send no phase events; a lane, if one
        is ever asked for, is closed with the kept host, not with this read)."""
        return self._kept.host.lane()

    async def close(self) -> None:
        if not self._returned:
            self._returned = True
            self._owner._hand_back(self._key, self._kept, failed=self._failed)

    async def _watch(self, step: Awaitable[T]) -> T:
        try:
            return await step
        except BaseException:  # HostError, a cancelled read, anything: open a new one
            self._failed = True
            raise
