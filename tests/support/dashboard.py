"""A stand-in for `serve/store.py` with just the calls the dashboard makes, and records
and statuses to feed it; for the dashboard's tests that need no real host."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shipyard.config.loader import ConfigFile
from shipyard.config.model import Environment
from shipyard.config.shipyard_config import ShipyardConfig
from shipyard.execute.queries import EnvironmentStatus, HostStatus
from shipyard.protocol.common import Deployment, Event, LockInfo, Probe
from shipyard.protocol.inspect import SlotStatus, StatusReply
from shipyard.serve.live import LiveDeploys
from shipyard.serve.mirror import Sources
from shipyard.serve.reads import CheckBucket
from shipyard.serve.web.app import AuthSettings, create_app

CONFIG = """
app: demo
start: python3 app.py
environments:
  staging: {hosts: [local], root: /tmp/dash-staging}
  production: {hosts: [local], root: /tmp/dash-production}
"""


@dataclass(frozen=True)
class Result:
    env: str
    check: str
    host: str
    at: float
    ok: bool
    latency_ms: float | None = None
    maintenance: bool = False


@dataclass(frozen=True)
class Sample:
    env: str
    host: str
    at: float
    cpu_pct: float | None
    mem_used: int | None
    mem_total: int | None


@dataclass
class MemoryStore:
    deploys: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    checks: list[Result] = field(default_factory=list)
    ratings: list[tuple[str, float, int]] = field(default_factory=list)
    notes: list[tuple[str, str, str]] = field(default_factory=list)  # (env, who, note)
    samples: list[Sample] = field(default_factory=list)

    def mirror_deploys(self, env: str, host: str, records: dict[str, str]) -> None:
        self.deploys.setdefault((env, host), {}).update(records)

    def mirrored_deploys(self, env: str, host: str | None = None) -> dict[str, str]:
        out: dict[str, str] = {}
        for (e, h), records in self.deploys.items():
            if e == env and host in (None, h):
                out.update(records)
        return out

    def results(
        self,
        env: str,
        check: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> Sequence[Result]:
        return sorted(
            (
                r
                for r in self.checks
                if r.env == env
                and check in (None, r.check)
                and (since is None or r.at >= since)
                and (until is None or r.at < until)
            ),
            key=lambda r: r.at,
        )

    def result_counts(
        self, env: str, since: float, until: float | None = None
    ) -> dict[str, tuple[int, int, int]]:
        counts: dict[str, list[int]] = {}
        for r in self.results(env, since=since, until=until):
            c = counts.setdefault(r.check, [0, 0, 0])
            if r.maintenance:
                c[2] += 1
            else:
                c[0] += 1
                c[1] += not r.ok
        return {k: (v[0], v[1], v[2]) for k, v in counts.items()}

    def confidence(self, env: str, since: float | None = None) -> list[tuple[str, float, int]]:
        return [r for r in self.ratings if since is None or r[1] >= since]

    def add_rating(self, env: str, who: str, at: float, score: int, note: str = "") -> None:
        self.ratings.append((who, at, score))
        self.notes.append((env, who, note))

    def resource_samples(
        self, env: str, host: str | None = None, since: float | None = None
    ) -> list[Sample]:
        return [
            s
            for s in self.samples
            if s.env == env and host in (None, s.host) and (since is None or s.at >= since)
        ]

    def newest_result(self, env: str, check: str) -> Result | None:
        found = self.results(env, check)
        return found[-1] if found else None

    def check_buckets(self, env: str, since: float, until: float, count: int) -> list[CheckBucket]:
        rows = [
            (r.check, r.host, r.at, r.ok, r.latency_ms, r.maintenance) for r in self.results(env)
        ]
        return bucket_results(rows, since=since, until=until, count=count)


def bucket_results(
    results: Iterable[tuple[str, str, float, bool, float | None, bool]],
    *,
    since: float,
    until: float,
    count: int,
) -> list[CheckBucket]:
    """What `Store.check_buckets` computes in SQL, from (check, host, at, ok, latency_ms,
    maintenance) rows: the definition its tests compare against."""
    slice_s = (until - since) / count
    cells: dict[tuple[str, str, int], list[float]] = {}
    latencies: dict[tuple[str, str, int], list[float]] = {}
    for check, host, at, ok, latency, maintenance in results:
        if not since <= at < until:
            continue
        key = (check, host, min(int((at - since) / slice_s), count - 1))
        cell = cells.setdefault(key, [0, 0, 0])
        cell[0] += 1
        cell[1] += maintenance
        cell[2] += ok and not maintenance
        if latency is not None and not maintenance:
            latencies.setdefault(key, []).append(latency)
    return [
        CheckBucket(
            check,
            host,
            index,
            int(cell[0]),
            int(cell[1]),
            int(cell[2]),
            sum(lat) / len(lat) if (lat := latencies.get((check, host, index))) else None,
        )
        for (check, host, index), cell in sorted(cells.items())
    ]


def environments(tmp: Path) -> dict[str, Environment]:
    config = ConfigFile.parse(CONFIG, tmp / "shipyard.yml")
    return {name: config.environment(name) for name in config.environment_names}


def deployment(
    n: int, *, outcome: str = "succeeded", at: float = 1.7e9, **extra: object
) -> Deployment:
    values: dict[str, object] = {
        "id": f"d{n:05d}",
        "kind": "deploy",
        "release_id": f"r{n:011d}",
        "previous_release_id": None,
        "commit_sha": f"{n:040x}",
        "commit_time": None,
        "trigger": "manual",
        "actor": "alice",
        "message": None,
        "hosts": ["local"],
        "started_at": at + n * 60,
        "finished_at": at + n * 60 + 12.5,
        "outcome": outcome,
        "error": "check failed: GET /healthz -> HTTP 500" if outcome == "failed" else None,
        "phases": {"prepare": 2.0, "boot": 1.5, "check": 3.0, "switch": 0.1},
        "analysis": None,
        "checks": None,
        "promoted_from": None,
    }
    values.update(extra)
    return Deployment(**values)  # type: ignore[arg-type]


def status(env: str, release: str, lock: LockInfo | None = None) -> EnvironmentStatus:
    probe = Probe("http://x/healthz", 1.7e9, 3.0, 200, None, release)
    slots = [
        SlotStatus("blue", release, "active", None, "RUNNING", {}, True, probe),
        SlotStatus("green", None, "stopped", None, "STOPPED", {}, False, None),
    ]
    reply = StatusReply(True, "blue", release, slots, "RUNNING", "RUNNING", "blue", lock, [])
    return EnvironmentStatus(env, lock, None, [HostStatus("local", reply)])


class FakeHosts:
    """Sources answering from memory: a status per environment, records and events."""

    def __init__(self) -> None:
        self.records: dict[str, list[Deployment]] = {}
        self.events: dict[str, list[Event]] = {}
        self.statuses: dict[str, EnvironmentStatus] = {}

    def sources(self) -> Sources:
        async def status_of(env: Environment) -> EnvironmentStatus:
            return self.statuses[env.name]

        async def history(env: Environment, limit: int) -> list[Deployment]:
            return self.records.get(env.name, [])[:limit]

        async def events(env: Environment, after: int) -> list[Event]:
            return [e for e in self.events.get(env.name, []) if e.id > after]

        return Sources(status=status_of, history=history, events=events)


@dataclass
class Context:
    """What serve's ServeContext gives the dashboard."""

    config: ShipyardConfig
    store: MemoryStore
    live: LiveDeploys
    base_url: str = "http://127.0.0.1:8400"


def make_app(tmp: Path, hosts: FakeHosts, store: MemoryStore, settings: AuthSettings):  # type: ignore[no-untyped-def]
    live = LiveDeploys(hosts.sources(), idle_interval=0.05)
    config = ShipyardConfig.from_file(ConfigFile.parse(CONFIG, tmp / "shipyard.yml"))
    return create_app(Context(config, store, live), settings), live
