"""An open connection to every host of an environment, and phase execution with barriers."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from shipyard import __version__
from shipyard.config.model import Environment
from shipyard.execute.hostclient import HostClient, HostError, transport_for
from shipyard.execute.reporter import Reporter
from shipyard.transport.base import TransportError

T = TypeVar("T")
KILL_AFTER = "SHIPYARD_TEST_KILL_AFTER"


@dataclass
class PhaseFailed(Exception):
    """A phase failed on one or more hosts (after every host finished it: a barrier)."""

    phase: str
    errors: list[HostError]
    results: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.phase} failed on {', '.join(e.host for e in self.errors)}"


class Session:
    def __init__(self, env: Environment, reporter: Reporter, app_dir: Path | None = None) -> None:
        self.env = env
        self.app_dir = app_dir or Path.cwd()
        self.reporter = reporter
        self.clients = [HostClient(env, entry, transport_for(env, entry)) for entry in env.hosts]
        self.timings: dict[str, float] = {}

    @property
    def primary(self) -> HostClient:
        return self.clients[0]

    async def open(self, clients: list[HostClient] | None = None) -> None:
        async def connect(client: HostClient) -> dict[str, Any]:
            try:
                await client.transport.connect()
            except TransportError as exc:
                raise HostError(client.label, "connect", exc.message, exc.hint) from None
            hello = await client.call("hello")
            if hello.get("version") != __version__:
                self.reporter.info(
                    f"warning: {client.label} runs shipyard {hello.get('version')}, "
                    f"this is {__version__}"
                )
            return hello

        await self.each("connect", connect, clients=clients, quiet=True)

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)

    async def each(
        self,
        phase: str,
        action: Callable[[HostClient], Awaitable[T]],
        *,
        clients: list[HostClient] | None = None,
        quiet: bool = False,
        detail: Callable[[T], str] | None = None,
    ) -> dict[str, T]:
        """Run `action` on every host at once; wait for all; raise PhaseFailed if any failed."""
        targets = clients if clients is not None else self.clients
        started = time.monotonic()

        async def one(client: HostClient) -> T:
            if not quiet:
                self.reporter.phase(client.label, phase, "start")
            try:
                result = await action(client)
            except HostError as exc:
                self.reporter.phase(client.label, phase, "failed", exc.message)
                raise
            if not quiet:
                extra = detail(result) if detail else ""
                self.reporter.phase(client.label, phase, "ok", extra)
            return result

        outcomes = await asyncio.gather(*(one(c) for c in targets), return_exceptions=True)
        self.timings[phase] = round(self.timings.get(phase, 0.0) + time.monotonic() - started, 3)
        errors: list[HostError] = []
        results: dict[str, T] = {}
        for client, outcome in zip(targets, outcomes, strict=True):
            if isinstance(outcome, HostError):
                errors.append(outcome)
            elif isinstance(outcome, BaseException):
                errors.append(
                    HostError(client.label, phase, f"{type(outcome).__name__}: {outcome}")
                )
            else:
                results[client.label] = outcome
        if errors:
            raise PhaseFailed(phase, errors, dict(results))
        if os.environ.get(KILL_AFTER) == phase:
            # test hook for the fault-injection suite: die like a killed operator would
            os.kill(os.getpid(), signal.SIGKILL)
        return results
