"""A command's hosts: connect to every one, run a phase on all at once, wait for all.

Every phase is a barrier: `each` runs an action on every host concurrently, waits for
all of them, times the phase, tells the reporter and the observers, and raises one
`PhaseFailed` listing every host that failed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from shipyard import __version__
from shipyard.config.model import Environment
from shipyard.core import timing
from shipyard.core.redact import redact
from shipyard.errors import ExitCode, ShipyardError
from shipyard.execute.hostclient import Host, HostError, HostFactory, connect_host, redact_probe
from shipyard.execute.observers import PhaseObserver
from shipyard.execute.reporter import Reporter
from shipyard.plan import requests
from shipyard.protocol.common import Probe
from shipyard.protocol.op import PROTOCOL_VERSION
from shipyard.protocol.records import HelloReply

T = TypeVar("T")


class PhaseFailed(ShipyardError):
    """A phase failed on one or more hosts (after every host finished it: a barrier).

    `results` holds what the hosts that succeeded answered.
    """

    def __init__(self, phase: str, errors: list[HostError], results: dict[str, Any]) -> None:
        super().__init__(f"{phase} failed on {', '.join(e.host for e in errors)}")
        self.phase = phase
        self.errors = errors
        self.results = results
        self.exit_code = (
            ExitCode.UNREACHABLE
            if any(e.exit_code == ExitCode.UNREACHABLE for e in errors)
            else ExitCode.FAILED
        )

    def details(self) -> list[str]:
        return host_error_lines(self.errors)

    def error_text(self) -> str:
        """For the history record: every failing host and why."""
        return "; ".join(f"{e.host} {self.phase}: {e.message}" for e in self.errors)


def host_error_lines(errors: Sequence[HostError]) -> list[str]:
    lines = []
    for error in errors:
        lines.append(f"✗ {error.host} ({error.op}): {error.message}")
        lines += [f"  {line}" for line in error.details()]
        if error.hint:
            lines.append(f"  hint: {error.hint}")
    return lines


class VersionMismatch(ShipyardError):
    """A host runs another Shipyard version than the operator (exit 4)."""

    exit_code = ExitCode.UNREACHABLE


class Session:
    def __init__(
        self,
        env: Environment,
        reporter: Reporter,
        *,
        secrets: Sequence[str] = (),
        hosts: HostFactory = connect_host,
        observers: Sequence[PhaseObserver] = (),
    ) -> None:
        self.env = env
        self.reporter = reporter
        self.secrets = list(secrets)
        self.observers = list(observers)
        self.hosts: list[Host] = [hosts(env, entry, self.redact) for entry in env.hosts]
        self.timings: dict[str, float] = {}
        self.hellos: dict[str, HelloReply] = {}

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    @property
    def primary(self) -> Host:
        return self.hosts[0]

    async def open(self, hosts: list[Host] | None = None) -> None:
        """Connect to every host (or `hosts`) and check that it runs this very version.

        Paced: at most `fleet.max_connecting` hosts are in their SSH handshake and agent
        start-up (the first call, `hello`) at once, so that a large fleet's sshds and the
        operator's own CPU are not asked for everything in the same instant; the others
        wait for a turn. Once connected, every phase runs on all hosts at once."""
        turns = asyncio.Semaphore(self.env.fleet.max_connecting)

        async def connect(host: Host) -> HelloReply:
            async with turns:
                await host.connect()
                hello = await host.hello(requests.hello(__version__, PROTOCOL_VERSION))
            if hello.version != __version__ or hello.protocol != PROTOCOL_VERSION:
                raise HostError(
                    host.label,
                    "hello",
                    f"this host runs Shipyard {hello.version} (protocol {hello.protocol}); "
                    f"this machine runs {__version__} (protocol {PROTOCOL_VERSION})",
                    hint=f"install shipyard {__version__} on the host (`shipyard setup "
                    f"{self.env.name}` does it), or run the host's version here",
                )
            return hello

        self.hellos |= await self.each("connect", connect, hosts=hosts, quiet=True)

    async def close(self) -> None:
        await asyncio.gather(*(h.close() for h in self.hosts), return_exceptions=True)

    async def each(
        self,
        phase: str,
        action: Callable[[Host], Awaitable[T]],
        *,
        hosts: list[Host] | None = None,
        quiet: bool = False,
        detail: Callable[[T], str] | None = None,
    ) -> dict[str, T]:
        """Run `action` on every host at once; wait for all; raise PhaseFailed if any failed."""
        targets = hosts if hosts is not None else self.hosts
        started = time.monotonic()

        async def one(host: Host) -> T:
            if not quiet:
                self._event(host.label, phase, "start", "")
            try:
                result = await action(host)
            except HostError as exc:
                self._event(host.label, phase, "failed", exc.message, exc.probes, exc.log_tail)
                raise
            if not quiet:
                self._event(host.label, phase, "ok", detail(result) if detail else "")
            return result

        outcomes = await asyncio.gather(*(one(h) for h in targets), return_exceptions=True)
        self.timings[phase] = round(self.timings.get(phase, 0.0) + time.monotonic() - started, 3)
        timing.mark(f"phase {phase} {time.monotonic() - started:.3f}s")
        errors: list[HostError] = []
        results: dict[str, T] = {}
        for host, outcome in zip(targets, outcomes, strict=True):
            if isinstance(outcome, HostError):
                errors.append(outcome)
            elif isinstance(outcome, asyncio.CancelledError | KeyboardInterrupt):
                raise outcome
            elif isinstance(outcome, BaseException):
                text = self.redact(f"{type(outcome).__name__}: {outcome}")
                errors.append(HostError(host.label, phase, text))
            else:
                results[host.label] = outcome
        if errors:
            raise PhaseFailed(phase, errors, dict(results))
        for observer in self.observers:
            observer.phase_done(phase)
        return results

    def _event(
        self,
        host: str,
        phase: str,
        status: str,
        detail: str,
        probes: Sequence[Probe] = (),
        log_tail: Sequence[str] = (),
    ) -> None:
        """Tell the reporter and the observers, every text redacted once more here (a
        HostError raised outside HostClient, or a test's, has not passed it)."""
        r = self.redact
        detail = r(detail)
        self.reporter.phase(host, phase, status, detail)
        evidence = [redact_probe(probe, r) for probe in probes]
        lines = [r(line) for line in log_tail]
        for observer in self.observers:
            observer.phase_event(host, phase, status, detail, probes=evidence, log_tail=lines)
