"""serve's kept host sessions (serve/host_sessions.py): every read's Session borrows one
open client per host; a failed read drops it and the next read opens a new one; a stale
channel is replaced within the read; at most `limit` hosts are kept; all close at the
end. The clients here are small fakes recording what was opened, asked and closed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shipyard import __version__
from shipyard.config.model import Environment, HostEntry
from shipyard.execute.hostclient import Host, HostError, Redactor
from shipyard.execute.reporter import SilentReporter
from shipyard.execute.session import PhaseFailed, Session
from shipyard.protocol.inspect import LogsRequest
from shipyard.protocol.op import PROTOCOL_VERSION, Op, Rep, Req
from shipyard.protocol.records import HelloReply, HelloRequest
from shipyard.protocol.resources import RESOURCES, ResourcesRequest
from shipyard.serve.host_sessions import HostSessions


@dataclass
class Client:
    """One fake client: what was asked of it, whether it was closed."""

    n: int
    host: str
    version: str = __version__
    failing: set[str] = field(default_factory=set)  # ops that raise HostError
    asked: list[str] = field(default_factory=list)
    closed: bool = False

    def fail(self, op: str) -> HostError:
        return HostError(self.host, op, f"{op} failed on client {self.n}")


@dataclass
class Fleet:
    clients: list[Client] = field(default_factory=list)
    version: str = __version__

    def factory(self, env: Environment, entry: HostEntry, redact: Redactor) -> Host:
        client = Client(len(self.clients), entry.address, self.version)
        self.clients.append(client)
        return FakeClient(client, entry)

    def of(self, host: str) -> list[Client]:
        return [c for c in self.clients if c.host == host]


class FakeClient:
    def __init__(self, client: Client, entry: HostEntry) -> None:
        self.client = client
        self.entry = entry

    @property
    def label(self) -> str:
        return self.entry.address

    async def connect(self) -> None:
        self.client.asked.append("connect")

    async def hello(self, request: HelloRequest) -> HelloReply:
        self.client.asked.append("hello")
        if "hello" in self.client.failing:
            raise self.client.fail("hello")
        return HelloReply(self.client.version, PROTOCOL_VERSION, "3.11.7", self.label, 10**10)

    async def call(
        self, op: Op[Req, Rep], request: Req, *, timeout: float | None = None, oneshot: bool = False
    ) -> Rep:
        self.client.asked.append(op.name)
        if op.name in self.client.failing:
            raise self.client.fail(op.name)
        reply: Any = {"from": self.client.n}
        return reply  # type: ignore[no-any-return]

    async def upload(self, local_path: Path, remote_path: str) -> None:
        raise NotImplementedError

    async def follow_logs(self, request: LogsRequest) -> AsyncIterator[str]:
        raise NotImplementedError
        yield ""

    async def close(self) -> None:
        self.client.closed = True


def env(*hosts: str, name: str = "prod") -> Environment:
    return Environment.model_validate(
        {"name": name, "app": "shop", "start": "python3 app.py", "hosts": list(hosts)}
    )


REQUEST = ResourcesRequest(sample_seconds=0.0, mounts=[])


async def read(environment: Environment, sessions: HostSessions) -> dict[str, Any]:
    """What serve's reads do (execute/queries.py): open a Session, ask, close it."""
    session = Session(environment, SilentReporter(), hosts=sessions)
    try:
        await session.open()
        return await session.each("resources", lambda h: h.call(RESOURCES, REQUEST), quiet=True)
    finally:
        await session.close()


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_every_read_of_a_host_goes_through_the_one_client_opened_for_it() -> None:
    fleet = Fleet()
    sessions = HostSessions(fleet.factory)
    prod = env("web1", "web2")

    async def three_reads() -> list[dict[str, Any]]:
        return [await read(prod, sessions) for _ in range(3)]

    replies = run(three_reads())
    assert [len(fleet.of(h)) for h in ("web1", "web2")] == [1, 1]
    assert all(r["web1"] == {"from": fleet.of("web1")[0].n} for r in replies)
    assert not any(c.closed for c in fleet.clients)
    assert fleet.of("web1")[0].asked == ["connect", "hello", "resources"] * 3
    assert sessions.opened == 2


def test_a_read_that_failed_on_a_host_closes_its_client_and_the_next_read_opens_a_new_one() -> None:
    fleet = Fleet()
    sessions = HostSessions(fleet.factory)
    prod = env("web1", "web2")

    async def reads() -> None:
        await read(prod, sessions)
        fleet.of("web1")[0].failing.add("resources")
        with pytest.raises(PhaseFailed):
            await read(prod, sessions)
        await read(prod, sessions)

    run(reads())
    first, second = fleet.of("web1")
    assert first.closed and not second.closed
    assert second.asked == ["connect", "hello", "resources"]
    assert len(fleet.of("web2")) == 1  # the other host's client was not touched


def test_a_kept_client_whose_channel_went_stale_is_replaced_within_the_same_read() -> None:
    fleet = Fleet()
    sessions = HostSessions(fleet.factory)
    prod = env("web1")

    async def reads() -> dict[str, Any]:
        await read(prod, sessions)
        fleet.of("web1")[0].failing.add("hello")  # the agent ended while idle
        return await read(prod, sessions)

    reply = run(reads())
    stale, fresh = fleet.of("web1")
    assert stale.closed and not fresh.closed
    assert reply == {"web1": {"from": fresh.n}}
    assert fresh.asked == ["connect", "hello", "resources"]


def test_a_new_client_that_fails_its_hello_is_not_tried_again_within_the_read() -> None:
    fleet = Fleet()
    sessions = HostSessions(fleet.factory)

    async def failing_read() -> None:
        original = fleet.factory

        def failing(e: Environment, entry: HostEntry, redact: Redactor) -> Host:
            host = original(e, entry, redact)
            fleet.clients[-1].failing.add("hello")
            return host

        sessions.factory = failing
        with pytest.raises(PhaseFailed):
            await read(env("web1"), sessions)

    run(failing_read())
    (only,) = fleet.clients
    assert only.closed and sessions.open_hosts == []


def test_a_host_that_answers_another_version_is_asked_again_through_a_new_client() -> None:
    fleet = Fleet(version="0.0.1")
    sessions = HostSessions(fleet.factory)
    prod = env("web1")

    async def reads() -> dict[str, Any]:
        with pytest.raises(PhaseFailed, match="connect failed"):
            await read(prod, sessions)
        fleet.version = __version__  # the host was upgraded; a new agent runs the new one
        return await read(prod, sessions)

    reply = run(reads())
    old, new = fleet.clients
    assert old.closed and reply == {"web1": {"from": new.n}}


def test_a_cancelled_read_does_not_leave_its_client_for_the_next_read() -> None:
    fleet = Fleet()
    sessions = HostSessions(fleet.factory)
    prod = env("web1")

    async def reads() -> None:
        await read(prod, sessions)
        blocked = asyncio.Event()
        original = FakeClient.call

        async def hanging(self: FakeClient, op: Any, request: Any, **kw: Any) -> Any:
            blocked.set()
            await asyncio.sleep(3600)

        FakeClient.call = hanging  # type: ignore[method-assign]
        try:
            task = asyncio.create_task(read(prod, sessions))
            await blocked.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            FakeClient.call = original  # type: ignore[method-assign]
        await read(prod, sessions)

    run(reads())
    first, second = fleet.clients
    assert first.closed and not second.closed


def test_beyond_the_limit_the_least_recently_read_host_is_closed_once_no_read_holds_it() -> None:
    fleet = Fleet()
    sessions = HostSessions(fleet.factory, limit=2)

    async def reads() -> None:
        await read(env("a", name="one"), sessions)
        holding = sessions(env("b", name="two"), env("b").hosts[0], lambda t: t)  # a read
        await read(env("a", name="one"), sessions)  # now b is the least recently read
        await read(env("c", name="three"), sessions)  # over the limit: b goes
        await asyncio.sleep(0)
        assert not fleet.of("b")[0].closed  # still held by a read
        await holding.close()
        await asyncio.sleep(0)

    run(reads())
    assert fleet.of("b")[0].closed
    assert not fleet.of("a")[0].closed and not fleet.of("c")[0].closed
    assert sessions.open_hosts == [("one", "a"), ("three", "c")]


def test_closing_the_sessions_closes_every_kept_client() -> None:
    fleet = Fleet()
    sessions = HostSessions(fleet.factory)

    async def reads_then_close() -> None:
        await read(env("web1", "web2"), sessions)
        await read(env("db1", name="staging"), sessions)
        await sessions.close()

    run(reads_then_close())
    assert len(fleet.clients) == 3 and all(c.closed for c in fleet.clients)
    assert sessions.open_hosts == []


def test_a_host_only_lent_before_and_never_greeted_is_not_asked_twice_when_it_fails() -> None:
    fleet = Fleet()
    sessions = HostSessions(fleet.factory)
    prod = env("web1", "web2")

    async def reads() -> None:
        session = Session(prod, SilentReporter(), hosts=sessions)
        try:
            await session.open(hosts=[session.primary])  # a primary-only read (history)
        finally:
            await session.close()
        fleet.of("web2")[0].failing.add("hello")  # never reached: no agent answers there
        with pytest.raises(PhaseFailed):
            await read(prod, sessions)

    run(reads())
    (web2,) = fleet.of("web2")
    assert web2.asked == ["connect", "hello"] and web2.closed
