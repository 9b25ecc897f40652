"""Call host operations on one host through its transport, with typed requests and replies.

`HostClient` is the real implementation of `Host`: one long-running host agent per host
per command, reached through the transport (a subprocess here, SSH elsewhere). Tests of
the orchestrator use a recording fake with the same interface instead.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Protocol

from shipyard import __version__
from shipyard.config.model import Environment, HostEntry
from shipyard.core import timing
from shipyard.errors import ExitCode, ShipyardError
from shipyard.plan import requests
from shipyard.protocol.codec import ProtocolError, decode, encode
from shipyard.protocol.common import Probe
from shipyard.protocol.inspect import LogsRequest
from shipyard.protocol.op import PROTOCOL_VERSION, Failure, Op, Rep, Req
from shipyard.protocol.records import HELLO, HelloReply, HelloRequest
from shipyard.transport.base import Channel, Transport, TransportError

Redactor = Callable[[str], str]

UNREACHABLE_OPS = ("connect", "hello")


class HostError(ShipyardError):
    """A host operation failed on `host`; `probes` and `log_tail` are its evidence.

    Every text in it has already passed through the session's redaction.
    """

    def __init__(
        self,
        host: str,
        op: str,
        message: str,
        hint: str = "",
        *,
        probes: list[Probe] | None = None,
        log_tail: list[str] | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.host = host
        self.op = op
        self.probes = probes or []
        self.log_tail = log_tail or []
        self.exit_code = ExitCode.UNREACHABLE if op in UNREACHABLE_OPS else ExitCode.FAILED

    def __str__(self) -> str:
        return f"{self.host}: {self.message}"

    def details(self) -> list[str]:
        lines = []
        if self.probes:
            lines.append("last probes:")
            lines += [f"  {probe.describe()}" for probe in self.probes[-5:]]
        if self.log_tail:
            lines.append(f"last {len(self.log_tail)} log lines:")
            lines += [f"  | {line}" for line in self.log_tail]
        return lines


def redact_probe(probe: Probe, redact: Redactor) -> Probe:
    """The probe with every text in it redacted (a health path or an error can hold a
    secret's value as well as a log line can)."""
    return replace(
        probe,
        url=redact(probe.url),
        error=None if probe.error is None else redact(probe.error),
        release=None if probe.release is None else redact(probe.release),
    )


class Host(Protocol):
    """One host of an environment, as the orchestrator sees it."""

    entry: HostEntry

    @property
    def label(self) -> str: ...

    async def connect(self) -> None: ...

    async def hello(self, request: HelloRequest) -> HelloReply: ...

    async def call(
        self, op: Op[Req, Rep], request: Req, *, timeout: float | None = None, oneshot: bool = False
    ) -> Rep: ...

    async def upload(self, local_path: Path, remote_path: str) -> None: ...

    def follow_logs(self, request: LogsRequest) -> AsyncIterator[str]: ...

    def lane(self) -> Host:
        """A second way to this host that never queues behind this one's operations
        (for the live-events record while a long operation runs); opened at its first
        call, closed with this host."""
        ...

    async def close(self) -> None: ...


class HostClient:
    def __init__(
        self,
        env: Environment,
        entry: HostEntry,
        transport: Transport,
        redact: Redactor = lambda text: text,
        *,
        owns_transport: bool = True,
    ) -> None:
        self.env = env
        self.entry = entry
        self.transport = transport
        self.redact = redact
        self._channel: Channel | None = None
        self._lock = asyncio.Lock()
        self.resident = False  # the channel goes to the host's resident agent
        self._try_resident = True
        self._owns_transport = owns_transport  # False: a lane, on its host's connection
        self._lane: HostClient | None = None

    @property
    def label(self) -> str:
        return self.transport.label

    async def connect(self) -> None:
        try:
            with timing.span(f"{self.label} connected"):
                await self.transport.connect()
        except TransportError as exc:
            raise self._error("connect", exc.message, exc.hint) from None

    async def hello(self, request: HelloRequest) -> HelloReply:
        """The first call: read leniently (only the fields this version knows), so any
        agent, older or newer, can tell its version before anything else is asked."""
        reply = await self._hello_reply(request)
        known = {f.name for f in fields(HelloReply)}
        try:
            return decode(HelloReply, {k: v for k, v in reply.items() if k in known}, "hello")
        except ProtocolError as exc:
            raise self._error(
                HELLO.name, f"unexpected hello reply: {exc.message}", exc.hint
            ) from None

    async def _hello_reply(self, request: HelloRequest) -> dict[str, Any]:
        """`hello`, first to the resident agent if the host has one; if it refuses (its
        code changed on disk) or runs another version, to an agent of this command's own."""
        wire = self._wire(request)
        try:
            reply = await self._exchange(HELLO.name, wire, None, oneshot=False)
        except HostError:
            if not self.resident:
                raise
            await self._drop_resident()
            return await self._exchange(HELLO.name, wire, None, oneshot=False)
        same = reply.get("version") == __version__ and reply.get("protocol") == PROTOCOL_VERSION
        if self.resident and not same:
            await self._drop_resident()
            return await self._exchange(HELLO.name, wire, None, oneshot=False)
        return reply

    async def _drop_resident(self) -> None:
        channel, self._channel = self._channel, None
        self.resident, self._try_resident = False, False
        if channel is not None:
            await channel.close()
        timing.mark(f"{self.label} resident agent not used")

    async def _open_channel(self) -> Channel:
        """The host's resident agent (a unix socket under its supervisord), else an agent
        started for this command (`shipyard host serve`)."""
        if self._try_resident:
            path = str(requests.layout(self.env, self.entry).agent_socket)
            try:
                with timing.span(f"{self.label} resident agent reached"):
                    channel = await self.transport.unix_channel(path)
            except TransportError:
                self._try_resident = False
            else:
                self.resident = True
                return channel
        self.resident = False
        with timing.span(f"{self.label} agent started"):
            return await self.transport.channel(requests.host_argv(self.env, self.entry, "serve"))

    async def call(
        self, op: Op[Req, Rep], request: Req, *, timeout: float | None = None, oneshot: bool = False
    ) -> Rep:
        """Run one host operation and return its typed reply (HostError if it failed).

        Operations go to one long-running `shipyard host serve` per host (a round trip
        each); `oneshot` starts a process of its own instead, for calls that must not
        queue behind a long operation (the lock heartbeat).
        """
        reply = await self._exchange(op.name, self._wire(request), timeout, oneshot=oneshot)
        try:
            return decode(op.reply, reply, f"{op.name} reply")
        except ProtocolError as exc:
            raise self._error(op.name, exc.message, exc.hint) from None

    def _wire(self, request: Any) -> dict[str, Any]:
        scope = requests.scope(self.env, self.entry)
        return {"root": scope.root, "app": scope.app, "env": scope.env, **encode(request)}

    async def _exchange(
        self, op: str, payload: dict[str, Any], timeout: float | None, *, oneshot: bool
    ) -> dict[str, Any]:
        try:
            with timing.span(f"{self.label} op {op}" + (" (one-shot)" if oneshot else "")):
                if oneshot:
                    text, exit_status, stderr = await self._run_once(op, payload, timeout)
                else:
                    text, exit_status, stderr = (
                        await self._via_channel(op, payload, timeout),
                        0,
                        "",
                    )
        except TransportError as exc:
            raise self._error(op, exc.message, exc.hint) from None
        try:
            reply = json.loads(text) if text else None
        except (ValueError, RecursionError):
            reply = None
        if not isinstance(reply, dict):
            detail = (stderr or text).strip().splitlines()[-5:]
            raise self._error(
                op,
                f"host operation {op} failed (exit {exit_status}): " + " | ".join(detail),
                f"is shipyard installed there as {self.env.shipyard_command!r}? "
                "(setting: shipyard_command)",
            )
        if reply.pop("ok", None) is not True:
            try:
                failed = decode(Failure, reply, f"{op} failure")
            except ProtocolError:
                raise self._error(
                    op, str(reply.get("error")), str(reply.get("hint") or "")
                ) from None
            raise self._error(op, failed.error, failed.hint, failed.probes, failed.log_tail)
        return reply

    def _error(
        self,
        op: str,
        message: str,
        hint: str = "",
        probes: list[Probe] | None = None,
        log_tail: list[str] | None = None,
    ) -> HostError:
        r = self.redact
        return HostError(
            self.label,
            op,
            r(message),
            r(hint),
            probes=[redact_probe(probe, r) for probe in probes or []],
            log_tail=[r(line) for line in log_tail or []],
        )

    async def _run_once(
        self, op: str, payload: dict[str, Any], timeout: float | None
    ) -> tuple[str, int, str]:
        argv = requests.host_argv(self.env, self.entry, op)
        result = await self.transport.run(argv, stdin=json.dumps(payload).encode(), timeout=timeout)
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        return (lines[-1] if lines else ""), result.exit_status, result.stderr or result.stdout

    async def _via_channel(self, op: str, payload: dict[str, Any], timeout: float | None) -> str:
        async with self._lock:
            fresh = self._channel is None
            if self._channel is None:
                self._channel = await self._open_channel()
            line = json.dumps({"op": op, "request": payload}).encode() + b"\n"
            try:
                return (await self._channel.request(line, timeout)).decode()
            except TransportError as exc:
                self._channel = None
                if fresh:
                    raise TransportError(
                        exc.host,
                        f"the Shipyard agent on this host did not answer: {exc.message}",
                        f"is shipyard installed there as {self.env.shipyard_command!r}? "
                        "(setting: shipyard_command); else: " + exc.hint,
                    ) from None
                raise
            except BaseException:
                # cancelled mid-request: the reply may still come; never read it as the
                # answer to the next request
                channel, self._channel = self._channel, None
                if channel is not None:
                    asyncio.get_running_loop().create_task(channel.close())
                raise

    async def upload(self, local_path: Path, remote_path: str) -> None:
        try:
            await self.transport.put(local_path, remote_path)
        except TransportError as exc:
            raise self._error("upload", exc.message, exc.hint) from None

    async def follow_logs(self, request: LogsRequest) -> AsyncIterator[str]:
        argv = [
            *requests.host_argv(self.env, self.entry, "logs"),
            "--request",
            json.dumps(self._wire(request)),
        ]
        async for line in self.transport.stream(argv):
            yield self.redact(line)

    def lane(self) -> Host:
        """A second agent on this host's connection: the resident agent's socket again
        if this client talks to it (each connection has a thread of its own there),
        else a second `shipyard host serve`. Started at its first call; it is asked
        nothing before `hello` proved the version, so it needs no `hello` of its own."""
        if self._lane is None:
            lane = HostClient(
                self.env, self.entry, self.transport, self.redact, owns_transport=False
            )
            lane._try_resident = self.resident
            self._lane = lane
        return self._lane

    async def close(self) -> None:
        with timing.span(f"{self.label} closed"):
            lane, self._lane = self._lane, None
            if lane is not None:
                await lane.close()
            channel, self._channel = self._channel, None
            if channel is not None:
                await channel.close()
            if self._owns_transport:
                await self.transport.close()


def transport_for(env: Environment, entry: HostEntry) -> Transport:
    """The host's transport; the SSH library is imported only for an SSH host."""
    if entry.is_local:
        from shipyard.transport.local import LocalTransport

        return LocalTransport()
    from shipyard.transport.ssh import SshTransport
    from shipyard.transport.target import SshTarget

    options = replace(
        env.ssh.options(),
        connect_attempts=env.fleet.connect_attempts,
        retry_backoff=env.fleet.retry_backoff,
    )
    return SshTransport(SshTarget.parse(entry.address), options)


def connect_host(env: Environment, entry: HostEntry, redact: Redactor) -> Host:
    """The default HostFactory: a real client over the host's transport."""
    return HostClient(env, entry, transport_for(env, entry), redact)


HostFactory = Callable[[Environment, HostEntry, Redactor], Host]
