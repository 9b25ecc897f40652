"""Shared pieces of the benchmarks: app repository, environments, timing hooks, load.

Nothing here is part of Shipyard; the benchmarks drive Shipyard through its one pipeline
(`shipyard.execute.pipeline`: gates, build, promotion rules, approval, lock, record,
phases), through `deploy` and `rollback` below and nothing else. The benchmarks' configs
turn bandit and pip-audit off (`NO_GATES`): the figures are about switching traffic, not
about the gates, which still run when a config names one (tests/unit/test_bench_entry.py).

Importing this module first pins the Shipyard source (see pin.py): every benchmark
imports it before anything from `shipyard`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from pin import pin, shipyard_command, source_label, source_root
from resultfiles import store_result as store_result  # every script stores through it

pin()  # before the first `shipyard` import: may re-execute this process on a snapshot

from shipyard.config.loader import ConfigFile  # noqa: E402
from shipyard.config.model import Environment, Settings  # noqa: E402
from shipyard.execute import hostclient, pipeline  # noqa: E402
from shipyard.execute.hostclient import HostFactory, connect_host  # noqa: E402
from shipyard.execute.outcomes import DeployResult, RollbackResult  # noqa: E402
from shipyard.host.agent import run as run_host_op  # noqa: E402
from shipyard.transport.local import LocalTransport  # noqa: E402
from shipyard.transport.ssh import SshTransport  # noqa: E402

EXAMPLE = source_root() / "examples" / "reconcile"
SSHD_SUPPORT = source_root() / "tests" / "support" / "sshd.py"
SHIPYARD_COMMAND = shipyard_command()
APP = "reconcile"


# -- the app repository ---------------------------------------------------------------
def git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=Bench", "-c", "user.email=bench@localhost"]
    result = subprocess.run(
        ["git", "-C", str(repo), *identity, *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


def make_repo(path: Path, config: dict[str, Any]) -> Path:
    """A fresh git repository with the example app and `config` as shipyard.yml."""
    shutil.rmtree(path, ignore_errors=True)
    shutil.copytree(EXAMPLE, path, ignore=shutil.ignore_patterns("__pycache__", "shipyard.yml"))
    (path / "shipyard.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "bench 0")
    return path / "shipyard.yml"


def commit_version(repo: Path, version: str) -> None:
    """A new commit (so a new, different release): VERSION changes."""
    (repo / "VERSION").write_text(version + "\n")
    git(repo, "commit", "-q", "-am", f"bench {version}")


# The demo's post-switch analysis (`shipyard demo`), where this Shipyard has one.
OBSERVE = {"window": 2.0, "interval": 0.5}
# What the figures are about is traffic, not the quality gates (see the docstring).
NO_GATES = {"bandit": {"enabled": False}, "pip_audit": {"enabled": False}}


# -- the one way the benchmarks change an environment: Shipyard's pipeline ------------
async def deploy(
    config_path: Path,
    message: str,
    reporter: Any,
    *,
    env_name: str = "bench",
    hosts: HostFactory = connect_host,
) -> DeployResult:
    runtime = pipeline.Runtime(reporter=reporter, hosts=hosts)
    return await pipeline.deploy(ConfigFile.load(config_path), env_name, runtime, message=message)


async def rollback(
    config_path: Path,
    message: str,
    reporter: Any,
    *,
    env_name: str = "bench",
    hosts: HostFactory = connect_host,
) -> RollbackResult:
    runtime = pipeline.Runtime(reporter=reporter, hosts=hosts)
    return await pipeline.rollback(ConfigFile.load(config_path), env_name, runtime, message=message)


def has_observe() -> bool:
    return "observe" in Settings.model_fields


def base_config(root: Path, port: int, **overrides: Any) -> dict[str, Any]:
    """The demo's settings (health interval 0.2 s, post-switch analysis 2 s where it
    exists), for an environment named `bench`."""
    config: dict[str, Any] = {
        "app": APP,
        "start": "python3 app.py",
        "health": {"path": "/healthz", "interval": 0.2, "deadline": 20},
        "nginx": {"listen": f"127.0.0.1:{port}"},
        "rollback_window": 600,
        "keep_releases": 5,
        "env": {"RECONCILE_BANNER": "Shipyard bench"},
        "gates": dict(NO_GATES),
        "environments": {"bench": {"hosts": ["local"], "root": str(root)}},
    }
    if has_observe():
        config["observe"] = dict(OBSERVE)
    config.update(overrides)
    return config


def load_env(config_path: Path, name: str = "bench") -> Environment:
    return ConfigFile.load(config_path).environment(name)


def shutdown_host(root: str) -> None:
    """Stop what the environment runs under `root` on this machine (apps, nginx, supervisord)."""
    if (Path(root) / APP / "bench" / "run" / "supervisor.sock").exists():
        run_host_op("shutdown", {"root": root, "app": APP, "env": "bench"})


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) != 0


def require_free(port: int, host: str = "127.0.0.1") -> None:
    if not port_free(port, host):
        raise SystemExit(f"{host}:{port} is in use; pass another --port")


# -- recording what Shipyard does ----------------------------------------------------
@dataclass
class Event:
    t: float  # time.monotonic()
    host: str
    phase: str
    status: str
    detail: str = ""


@dataclass
class RecordingReporter:
    """A Reporter that keeps every phase event with its monotonic time."""

    echo: bool = False
    events: list[Event] = field(default_factory=list)

    def phase(self, host: str, phase: str, status: str, detail: str = "") -> None:
        self.events.append(Event(time.monotonic(), host, phase, status, detail))
        if self.echo:
            print(f"    {host} {phase} {status} {detail}".rstrip(), flush=True)

    def info(self, message: str) -> None:
        if self.echo:
            print(f"    {message}", flush=True)

    def close(self) -> None:
        pass


@dataclass
class Call:
    t: float
    host: str
    op: str
    seconds: float


class Instrument:
    """Times every host operation and every artifact transfer (bench-only monkeypatch)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.puts: list[Call] = []

    @contextlib.contextmanager
    def active(self) -> Iterator[Instrument]:
        original_call = hostclient.HostClient.call
        originals = {cls: cls.put for cls in (LocalTransport, SshTransport)}
        calls, puts = self.calls, self.puts

        async def call(self: Any, op: Any, *args: Any, **kwargs: Any) -> Any:
            t0 = time.monotonic()
            try:
                return await original_call(self, op, *args, **kwargs)
            finally:
                calls.append(Call(t0, self.label, op.name, time.monotonic() - t0))

        def timed_put(cls: type) -> Any:
            original = originals[cls]

            async def put(self: Any, local_path: Path, remote_path: str) -> None:
                t0 = time.monotonic()
                try:
                    await original(self, local_path, remote_path)
                finally:
                    puts.append(Call(t0, self.label, "put", time.monotonic() - t0))

            return put

        hostclient.HostClient.call = call  # type: ignore[method-assign]
        for cls in originals:
            cls.put = timed_put(cls)  # type: ignore[method-assign]
        try:
            yield self
        finally:
            hostclient.HostClient.call = original_call  # type: ignore[method-assign]
            for cls, original in originals.items():
                cls.put = original  # type: ignore[method-assign]

    def between(self, start: float, end: float) -> tuple[list[Call], list[Call]]:
        return (
            [c for c in self.calls if start <= c.t <= end],
            [c for c in self.puts if start <= c.t <= end],
        )


# -- test SSH hosts --------------------------------------------------------------------
def sshd_support() -> ModuleType:
    """tests/support/sshd.py, loaded from its file (it is not an installed package)."""
    spec = importlib.util.spec_from_file_location("shipyard_bench_sshd", SSHD_SUPPORT)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {SSHD_SUPPORT}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def ssh_hosts_config(fleet: Any, hosts: list[Any], port: int, scenario: str) -> dict[str, Any]:
    """The `bench` environment's settings for SSH test hosts (one root per host)."""
    return {
        "hosts": [
            {
                "address": f"root@{h.address}:{h.port}",
                "root": str(h.root_dir / scenario),
                "listen": f"{h.address}:{port}",
            }
            for h in hosts
        ],
        "shipyard_command": SHIPYARD_COMMAND,
        "ssh": {
            "known_hosts": str(fleet.known_hosts),
            "identity_file": str(fleet.client_key),
            "config_file": str(fleet.ssh_config),
        },
    }


# -- load generator processes ----------------------------------------------------------
class LoadProcess:
    """bench/loadgen.py in a child process (so deploy work never stalls its event loop)."""

    def __init__(
        self,
        url: str,
        mode: str,
        rate: float,
        max_seconds: float,
        workdir: Path,
        connections: int = 16,
        cafile: str | None = None,  # https:// URLs: the CA to trust
    ) -> None:
        self.mode = mode
        self.out = workdir / f"samples-{mode}.json"
        self.ready = workdir / f"ready-{mode}"
        self.ready.unlink(missing_ok=True)
        self.out.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("loadgen.py")),
                "--url",
                url,
                "--mode",
                mode,
                "--rate",
                str(rate),
                "--connections",
                str(connections),
                "--seconds",
                str(max_seconds),
                "--out",
                str(self.out),
                "--ready-file",
                str(self.ready),
                "--stop-on-stdin-close",
                *(["--cafile", cafile] if cafile else []),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"load generator ({self.mode}) did not start")
            time.sleep(0.02)

    def stop(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Stop sending, wait for in-flight requests, return every sample."""
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        assert self.process.stdout is not None
        self.summary_line = self.process.stdout.read().strip()
        if not self.out.exists():
            raise RuntimeError(f"load generator ({self.mode}) wrote no samples")
        samples: list[dict[str, Any]] = json.loads(self.out.read_text())
        return samples

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# -- numbers and machine ---------------------------------------------------------------
def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> dict[str, Any]:
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True, check=False)
    return {
        "shipyard": source_label(),
        "nproc": int(subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()),
        "cpu": _cpu_model(),
        "nginx": nginx.stderr.strip(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    return f"{value:.{digits}f}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
