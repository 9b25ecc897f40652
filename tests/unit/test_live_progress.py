"""The live-events record of a deploy: phase events reach the primary on its lane while
the phase's own operation still runs, in the order they happened, with a failure's
probes and log lines, every text redacted.

The hosts are the recording fakes (tests/support/fakehost.py) and, for the host
client's own redaction, a scripted transport; the real path over SSH is
tests/integration/test_live_events.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.fakehost import FakeFleet

from shipyard.config.loader import ConfigFile
from shipyard.config.model import Environment
from shipyard.core.redact import redact
from shipyard.execute.hostclient import Host, HostClient, HostError
from shipyard.execute.progress import ProgressRecorder
from shipyard.execute.reporter import SilentReporter
from shipyard.execute.session import PhaseFailed, Session
from shipyard.plan.progress_queue import ProgressQueue
from shipyard.protocol.common import Event, Probe
from shipyard.protocol.inspect import LOGS, LogsRequest
from shipyard.protocol.op import Empty
from shipyard.protocol.records import PhaseEvent, RecordProgressRequest
from shipyard.serve.web import pages
from shipyard.transport.base import Channel, CommandResult, TransportError

SECRET = "s3cr3t-health-key"


@pytest.fixture
def env(tmp_path: Path) -> Environment:
    document = {
        "app": "shop",
        "start": "./serve.sh",
        "environments": {
            "production": {"hosts": ["deploy@h1.test", "deploy@h2.test"], "root": "/srv"}
        },
    }
    (tmp_path / "shipyard.yml").write_text(yaml.safe_dump(document))
    return ConfigFile.load(tmp_path / "shipyard.yml").environment("production")


def leaky_probe() -> Probe:
    return Probe(
        url=f"http://localhost/healthz?key={SECRET}",
        at=1.0,
        elapsed_ms=3.0,
        status=None,
        error=f"refused: key {SECRET}",
        release=None,
    )


def event(phase: str, status: str = "start", host: str = "h1") -> PhaseEvent:
    return PhaseEvent(
        host=host, phase=phase, status=status, detail="", at=0.0, probes=[], log_tail=[]
    )


# -- the host client -------------------------------------------------------------------


class FailingAgent:
    """A host agent that answers every request with a failure whose evidence holds the
    secret, as a host would echo a health path or an app's log line."""

    def __init__(self) -> None:
        self.requests = 0

    async def request(self, line: bytes, timeout: float | None = None) -> bytes:
        self.requests += 1
        reply = {"ok": False, "error": "not healthy", "hint": "", "version": "x"}
        probe = dict(leaky_probe().__dict__)
        reply |= {"probes": [probe], "log_tail": [f"token={SECRET}"]}
        return json.dumps(reply).encode() + b"\n"

    async def close(self) -> None:
        pass


class Agents:
    """A transport whose every started agent is a FailingAgent (no resident agent)."""

    label = "h1"

    def __init__(self) -> None:
        self.started: list[FailingAgent] = []
        self.closed = 0

    async def connect(self) -> None:
        pass

    async def close(self) -> None:
        self.closed += 1

    async def unix_channel(self, path: str) -> Channel:
        raise TransportError(self.label, "no resident agent")

    async def channel(self, argv: Sequence[str]) -> Channel:
        self.started.append(FailingAgent())
        return self.started[-1]

    async def run(self, argv: Sequence[str], **kwargs: Any) -> CommandResult:
        raise AssertionError("not used")


def client(env: Environment, transport: Agents) -> HostClient:
    secret_free = lambda text: redact(text, [SECRET])  # noqa: E731
    return HostClient(env, env.hosts[0], transport, secret_free)  # type: ignore[arg-type]


def test_a_failing_probe_names_no_secret_in_its_url_or_error(env: Environment) -> None:
    host = client(env, Agents())
    with pytest.raises(HostError) as failed:
        asyncio.run(host.call(LOGS, LogsRequest(slot=None, lines=1, follow=False)))
    (probe,) = failed.value.probes
    assert probe.url == "http://localhost/healthz?key=***"
    assert probe.error == "refused: key ***"
    assert SECRET not in "\n".join(failed.value.details())


def test_a_lane_is_a_second_agent_on_the_same_connection_closed_with_its_host(
    env: Environment,
) -> None:
    transport = Agents()
    host = client(env, transport)

    async def scenario() -> None:
        lane = host.lane()
        assert host.lane() is lane  # one lane per host
        assert transport.started == []  # opened at its first call, not before
        for target in (host, lane):
            with pytest.raises(HostError):
                await target.call(LOGS, LogsRequest(slot=None, lines=1, follow=False))
        await lane.close()
        assert transport.closed == 0  # a lane never closes its host's connection
        await host.close()

    asyncio.run(scenario())
    assert [agent.requests for agent in transport.started] == [1, 1]
    assert transport.closed == 1


# -- the session and the recorder ------------------------------------------------------


class Seen:
    """An observer that keeps what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str, list[Probe], list[str]]] = []

    def phase_event(
        self,
        host: str,
        phase: str,
        status: str,
        detail: str,
        *,
        probes: Sequence[Probe] = (),
        log_tail: Sequence[str] = (),
    ) -> None:
        self.events.append((host, phase, status, detail, list(probes), list(log_tail)))

    def phase_done(self, phase: str) -> None:
        pass


def test_observers_get_a_failures_probes_and_log_lines_redacted(env: Environment) -> None:
    fleet, seen = FakeFleet(), Seen()
    session = Session(
        env, SilentReporter(), secrets=[SECRET], hosts=fleet.factory, observers=[seen]
    )

    async def check(host: Host) -> None:
        # raised outside HostClient (as a test's or a future caller's could be)
        raise HostError(
            host.label, "check", f"bad key {SECRET}", probes=[leaky_probe()], log_tail=[SECRET]
        )

    with pytest.raises(PhaseFailed):
        asyncio.run(session.each("check", check, hosts=session.hosts[:1]))
    start, failed = seen.events
    assert start[:3] == ("deploy@h1.test", "check", "start")
    assert failed[2:4] == ("failed", "bad key ***")
    assert [p.url for p in failed[4]] == ["http://localhost/healthz?key=***"]
    assert failed[5] == ["***"]


def test_a_phase_start_is_recorded_on_the_lane_while_the_phase_still_runs(
    env: Environment,
) -> None:
    fleet = FakeFleet()
    session = Session(env, SilentReporter(), hosts=fleet.factory)
    recorder = ProgressRecorder(session.primary, "d1")
    session.observers.append(recorder)
    release = asyncio.Event()
    recorded_while_running: list[list[tuple[str, str, str]]] = []

    async def slow(host: Host) -> None:
        await release.wait()

    async def watch() -> None:
        # the phase's operation has not returned: what reached the primary by then
        while not fleet.calls("record-progress"):
            await asyncio.sleep(0.01)
        recorded_while_running.append(recorded(fleet))
        release.set()

    async def scenario() -> None:
        recorder.start()
        await asyncio.gather(session.each("pre-switch", slow), watch())
        await recorder.stop()

    asyncio.run(scenario())
    assert ("deploy@h1.test", "pre-switch", "start") in recorded_while_running[0]
    assert all(call.lane for call in fleet.calls("record-progress"))
    # in the order they happened, every host's start before its own ok
    assert recorded(fleet) == [
        ("deploy@h1.test", "pre-switch", "start"),
        ("deploy@h2.test", "pre-switch", "start"),
        ("deploy@h1.test", "pre-switch", "ok"),
        ("deploy@h2.test", "pre-switch", "ok"),
    ]


def recorded(fleet: FakeFleet) -> list[tuple[str, str, str]]:
    found = []
    for call in fleet.calls("record-progress", host="deploy@h1.test"):
        request: RecordProgressRequest = call.request
        found += [(e.host, e.phase, e.status) for e in request.events]
    return found


def test_a_batch_the_primary_did_not_take_is_sent_again_in_its_order(
    env: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shipyard.execute.progress.RETRY_AFTER", 0.0)
    fleet = FakeFleet()
    refusals = [HostError("deploy@h1.test", "record-progress", "database is locked")]
    taken: list[tuple[str, str]] = []

    def once_refused(request: RecordProgressRequest) -> Empty:
        if refusals:
            raise refusals.pop()
        taken.extend((e.phase, e.status) for e in request.events)
        return Empty()

    fleet.answer("production", "deploy@h1.test", "record-progress", once_refused)
    session = Session(env, SilentReporter(), hosts=fleet.factory)
    recorder = ProgressRecorder(session.primary, "d1")
    session.observers.append(recorder)

    async def quick(host: Host) -> None:
        pass

    async def scenario() -> None:
        recorder.start()
        await session.each("boot", quick, hosts=session.hosts[:1])
        await session.each("check", quick, hosts=session.hosts[:1])
        await recorder.stop()

    asyncio.run(scenario())
    assert refusals == []  # one request was refused
    assert taken == [("boot", "start"), ("boot", "ok"), ("check", "start"), ("check", "ok")]


# -- the queue -------------------------------------------------------------------------


def test_the_queue_hands_out_batches_oldest_first_and_a_refused_one_goes_first_again() -> None:
    queue = ProgressQueue(max_batch=2)
    for phase in ("a", "b", "c"):
        queue.add(event(phase))
    first = queue.take()
    assert [e.phase for e in first] == ["a", "b"]
    queue.add(event("d"))
    queue.put_back(first)
    assert [e.phase for e in queue.take() + queue.take()] == ["a", "b", "c", "d"]
    assert queue.take() == []


def test_a_full_queue_drops_the_oldest_events_that_are_not_failures() -> None:
    queue = ProgressQueue(max_pending=3)
    queue.add(event("prepare", "failed"))
    for phase in ("boot", "check", "switch"):
        queue.add(event(phase))
    assert [(e.phase, e.status) for e in queue.take()] == [
        ("prepare", "failed"),
        ("check", "start"),
        ("switch", "start"),
    ]
    assert queue.dropped == 1


# -- the live page's data --------------------------------------------------------------


def test_a_failed_phase_shows_its_probes_and_log_lines_on_the_live_grid() -> None:
    probe = Probe("http://localhost/healthz", 1.0, 12.0, 500, None, "r1")
    detail = {
        "host": "h1",
        "phase": "check",
        "status": "failed",
        "detail": "not healthy",
        "at": 1.0,
        "probes": [probe.__dict__],
        "log_tail": ["Traceback", "KeyError: 'DATABASE_URL'"],
    }
    rows = [
        pages.event_row(Event(1, 1.0, "d1", "phase", {**detail, "status": "start"})),
        pages.event_row(Event(2, 2.0, "d1", "phase", detail)),
    ]
    grid = pages.phase_grid(rows)
    assert grid["cells"]["h1"]["check"]["status"] == "failed"  # the newest status
    (failure,) = grid["failures"]
    assert [p["line"] for p in failure["probes"]] == [
        "GET http://localhost/healthz -> HTTP 500 in 12 ms"
    ]
    assert failure["log_tail"] == ["Traceback", "KeyError: 'DATABASE_URL'"]


def test_an_event_from_an_older_shipyard_without_evidence_still_shows() -> None:
    old = {"host": "h1", "phase": "check", "status": "failed", "detail": "not healthy"}
    row = pages.event_row(Event(1, 1.0, "d1", "phase", old))
    assert (row["detail"], row["probes"], row["log_tail"]) == ("not healthy", [], [])
