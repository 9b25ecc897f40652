"""serve's reads of a host through its kept session (serve/host_sessions.py), against a
real host agent (`shipyard host serve` over the local transport): one agent process
answers read after read; one that died is replaced within the next read; none is left
once the sessions close."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.config.model import Environment
from shipyard.execute import describe, queries
from shipyard.execute.reporter import SilentReporter
from shipyard.serve.host_sessions import HostSessions

pytestmark = pytest.mark.integration


@pytest.fixture
def env() -> Iterator[Environment]:
    root = Path(tempfile.mkdtemp(prefix="syhs-", dir="/tmp"))
    yield Environment.model_validate(
        {"name": "prod", "app": "shop", "start": "python3 app.py", "hosts": ["local"]}
        | {"root": str(root)}
    )
    subprocess.run(["rm", "-rf", str(root)], check=False)


def agents() -> list[int]:
    """This process's children that are host agents."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and b"serve" in argv and any(a.endswith(b"host") for a in argv):
            found.append(int(entry.name))
    return found


async def one_read(env: Environment, sessions: HostSessions) -> list[int]:
    """A resource sample and a history read, as serve's sampler and deploy watch do;
    the agents running meanwhile."""
    await describe.resources(env, SilentReporter(), hosts=sessions, sample_seconds=0)
    assert await queries.history(env, 5, SilentReporter(), sessions) == []
    return agents()


def test_one_host_agent_answers_every_read_and_none_is_left_after_closing(
    env: Environment,
) -> None:
    async def reads() -> tuple[list[list[int]], list[int]]:
        sessions = HostSessions()
        seen = [await one_read(env, sessions) for _ in range(4)]
        await sessions.close()
        return seen, agents()

    seen, after = asyncio.run(reads())
    assert len(seen[0]) == 1 and all(s == seen[0] for s in seen), seen
    assert after == []


def test_a_host_agent_that_died_is_replaced_within_the_next_read(env: Environment) -> None:
    async def reads() -> tuple[list[int], list[int]]:
        sessions = HostSessions()
        try:
            (first,) = await one_read(env, sessions)
            os.kill(first, signal.SIGKILL)
            await asyncio.sleep(0.2)  # dead before the next read asks it
            return [first], await one_read(env, sessions)
        finally:
            await sessions.close()

    before, after = asyncio.run(reads())
    assert len(after) == 1 and after != before
