"""How a command runs (`Runtime`): its own module, so that a command that does not
deploy (`rollback`) runs without importing the deploy pipeline (start-up)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from shipyard.config.model import Environment
from shipyard.execute.approval import Approver, Nobody
from shipyard.execute.hostclient import HostFactory, connect_host
from shipyard.execute.observers import PhaseObserver
from shipyard.execute.reporter import Reporter
from shipyard.execute.session import Session


@dataclass(frozen=True)
class Runtime:
    """How a command runs: who sees progress, who approves, how hosts are reached, and
    who else observes the phases (live views; the tests' fault injection)."""

    reporter: Reporter
    approver: Approver = field(default_factory=Nobody)
    hosts: HostFactory = connect_host
    observers: Sequence[PhaseObserver] = ()

    def session(self, env: Environment, secrets: Sequence[str] = ()) -> Session:
        return Session(
            env, self.reporter, secrets=secrets, hosts=self.hosts, observers=self.observers
        )


@asynccontextmanager
async def primary_session(runtime: Runtime, env: Environment) -> AsyncIterator[Session]:
    """A session open on the environment's primary only (reads, approvals)."""
    session = runtime.session(env)
    try:
        await session.open(hosts=[session.primary])
        yield session
    finally:
        await session.close()
