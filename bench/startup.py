"""Start-up and warm rollback, end to end, through the real `shipyard` command.

What a person waits for, timed from outside: each command is a fresh process
(`python -m shipyard ...` on one side's source) timed until it exits. For rollbacks also
until traffic moved, as a client sees it: a thread polls nginx's health path over
HTTP/1.1 keep-alive every few milliseconds and notes when the `X-Release` header first
names the rollback's target.

- `--help`, and `status ENV` of a local environment, also with the validated-configuration
  cache off (`SHIPYARD_CONFIG_CACHE=off`: the file validated every time, as on a miss);
- warm rollback (`shipyard rollback ENV`, the default target), back and forth between
  two deployed releases inside the rollback window: one switch; on one local host and
  on one SSH test host (tests/support/sshd.py, sshd on 127.0.0.11).

Side by side: with `--compare REF`, REF's source (a snapshot, see pin.py) gets its own
environments next to the pinned source's, and every run times one side then the other
(interleaved), so both see the same machine load. Each side's environments are
deployed with that side's own CLI. The CPU time of each command (with its local
children, such as a local host agent) is recorded too: on a busy machine wall time
includes waiting for a core, CPU time does not. Where a side has `SHIPYARD_TIMING`,
its own marks are kept (the last rollback's, and "traffic moved" per run).

    .venv/bin/python bench/startup.py --compare 288100f     # before/after
    .venv/bin/python bench/startup.py --compare 288100f --compiled   # both with .pyc files
    .venv/bin/python bench/startup.py --scenarios local --runs 3

Bytecode: this machine sets PYTHONDONTWRITEBYTECODE=1, so Python never writes the .pyc
files of a source tree it imports and compiles every module at every start. A wheel
install compiles them when it installs. `--compiled` measures that case: both sides'
sources are compiled (`compileall`) first; without it every `__pycache__` under them is
removed first, so each run says which case it measured (`settings.compiled`).

Writes bench/results/startup-<commit12>-<UTCstamp>.json (or --json-out).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchlib import (
    base_config,
    commit_version,
    fmt,
    machine,
    make_repo,
    median,
    require_free,
    shutdown_host,
    ssh_hosts_config,
    sshd_support,
    table,
)
from pin import snapshot, source_label, source_root

TIMING_MARK = re.compile(r"\[timing +([0-9.]+)s\] (.*)")


@dataclass
class Side:
    """One Shipyard source under test, and what was measured for it."""

    label: str
    commit: str
    src: Path
    results: dict[str, Any] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_BENCH_")}
        env |= {"PYTHONPATH": str(self.src), "SHIPYARD_TIMING": "1", "CI": "true", **extra}
        return env

    def shipyard_command(self) -> str:
        return f"env PYTHONPATH={self.src} {sys.executable} -m shipyard"

    def record(self, key: str, value: Any) -> None:
        self.results.setdefault(key, []).append(value)


def run_cli(side: Side, args: list[str], cwd: Path, **env: str) -> tuple[float, float, str, str]:
    """Run `shipyard ARGS` on the side's source: wall seconds, CPU seconds, out, err."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "shipyard", *args],
        cwd=cwd,
        env=side.env(**env),
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"[{side.label}] shipyard {' '.join(args)} failed:\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return round(seconds, 4), round(cpu, 4), done.stdout, done.stderr


def marks(stderr: str) -> dict[str, float]:
    """SHIPYARD_TIMING marks: what -> seconds since the process started (first one)."""
    found: dict[str, float] = {}
    for line in stderr.splitlines():
        match = TIMING_MARK.match(line)
        if match:
            found.setdefault(match.group(2), float(match.group(1)))
    return found


class Watcher:
    """Polls http://address/healthz on one keep-alive connection; notes when each release
    is first seen (monotonic time)."""

    def __init__(self, address: str, path: str = "/healthz") -> None:
        self.host, port = address.rsplit(":", 1)
        self.port, self.path = int(port), path
        self.seen: dict[str, float] = {}
        self.last = ""
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def current(self, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.last:
                return self.last
            time.sleep(0.01)
        raise SystemExit(f"nothing answers on {self.host}:{self.port}")

    def _run(self) -> None:
        conn: http.client.HTTPConnection | None = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=2)
                conn.request("GET", self.path)
                response = conn.getresponse()
                response.read()
                self.last = response.getheader("X-Release") or ""
                self.seen.setdefault(self.last, time.monotonic())
            except (OSError, http.client.HTTPException):
                self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
            time.sleep(0.003)
        if conn is not None:
            conn.close()

    def wait_for(self, release: str, timeout: float = 10.0) -> float | None:
        deadline = time.monotonic() + timeout
        while release not in self.seen and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.seen.get(release)


@dataclass
class Environment:
    """One side's deployed environment in one scenario."""

    side: Side
    scenario: str
    repo: Path
    listen: str
    roots: list[str]
    watcher: Watcher | None = None


def prepare(side: Side, scenario: str, port: int, workdir: Path, fleet: Any) -> Environment:
    """Deploy two releases with the side's own CLI (untimed)."""
    base = workdir / side.label / scenario
    if scenario == "local":
        require_free(port)
        root = base / "hosts"
        root.mkdir(parents=True)
        config = base_config(root, port)
        listen, roots = f"127.0.0.1:{port}", [str(root)]
    else:
        host = fleet(1)[0]
        require_free(port, host.address)
        config = base_config(base / "unused", port)
        name = f"{side.label}-{scenario}"
        settings = ssh_hosts_config(fleet, [host], port, name)
        settings["shipyard_command"] = side.shipyard_command()
        config["environments"] = {"bench": settings}
        listen, roots = f"{host.address}:{port}", [str(host.root_dir / name)]
    env = Environment(side, scenario, base / "repo", listen, roots)
    make_repo(env.repo, config)
    for version in ("1", "2"):
        commit_version(env.repo, f"startup {version}")
        run_cli(side, ["deploy", "bench", "--message", f"startup {version}"], env.repo)
    env.watcher = Watcher(listen)
    env.watcher.start()
    env.watcher.current()  # it answers
    return env


def time_rollback(env: Environment) -> None:
    assert env.watcher is not None
    side, name = env.side, env.scenario
    active = env.watcher.current()
    started = time.monotonic()
    seconds, cpu, out, err = run_cli(side, ["rollback", "bench"], env.repo)
    target = re.search(r"rolled back bench to (\S+)", out)
    if target is None:
        raise SystemExit(f"[{side.label}] unexpected rollback output: {out}")
    seen = env.watcher.wait_for(target.group(1))
    env.watcher.seen.clear()
    side.record(f"{name} rollback, to exit", seconds)
    side.record(f"{name} rollback, to traffic moved", round(seen - started, 4) if seen else None)
    side.record(f"{name} rollback: CPU seconds", cpu)
    side.record(f"{name} rollback: warm", "warm: one switch" in out and target.group(1) != active)
    moved = marks(err).get("traffic moved")
    if moved is not None:
        side.record(f"{name} rollback: Shipyard's traffic moved mark", moved)
    side.results[f"{name} rollback: timing marks of the last run"] = [
        line for line in err.splitlines() if line.startswith("[timing")
    ]


def measure(sides: list[Side], args: argparse.Namespace) -> None:
    workdir = Path(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    workdir.chmod(0o755)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    fleet = None
    envs: list[Environment] = []
    try:
        if any(s != "local" for s in scenarios):
            fleet = sshd_support().SshFleet(port=args.ssh_port)
            fleet.base.chmod(0o711)  # nginx's workers reach the app sockets inside
        port = args.port
        for scenario in scenarios:
            for side in sides:
                print(f"[startup] {side.label}: deploying {scenario}", flush=True)
                envs.append(prepare(side, scenario, port, workdir, fleet))
                port += 1
        for run in range(args.runs):
            print(f"[startup] run {run + 1}/{args.runs}, load {os.getloadavg()[0]:.2f}", flush=True)
            for side in sides:
                seconds, cpu, _, _ = run_cli(side, ["--help"], workdir)
                side.record("help", seconds)
                side.record("help: CPU seconds", cpu)
            for env in envs:
                if env.scenario == "local":
                    seconds, cpu, _, _ = run_cli(env.side, ["status", "bench"], env.repo)
                    env.side.record("local status", seconds)
                    env.side.record("local status: CPU seconds", cpu)
                    # validated every time: the validated-configuration cache's miss (a
                    # side without the cache ignores the variable)
                    seconds, cpu, _, _ = run_cli(
                        env.side, ["status", "bench"], env.repo, SHIPYARD_CONFIG_CACHE="off"
                    )
                    env.side.record("local status, config cache off", seconds)
                    env.side.record("local status, config cache off: CPU seconds", cpu)
                time_rollback(env)
                time.sleep(0.3)
        for env in envs:
            assert env.watcher is not None
            env.side.results[f"{env.scenario}: client errors while polling"] = env.watcher.errors
    finally:
        for env in envs:
            if env.watcher is not None:
                env.watcher.stop()
            for root in env.roots:
                shutdown_host(root)
        if fleet is not None:
            fleet.cleanup()


def summary(side: Side) -> dict[str, float | None]:
    flat: dict[str, float | None] = {}
    for key, values in side.results.items():
        first = values[0] if isinstance(values, list) and values else None
        if isinstance(first, int | float) and not isinstance(first, bool):
            numbers = [v for v in values if v is not None]
            flat[key] = round(median(numbers), 4) if numbers else None
    return flat


def report(before: dict[str, float | None] | None, after: dict[str, float | None]) -> str:
    rows = []
    for key, value in after.items():
        old = (before or {}).get(key)
        ratio = f"{old / value:.1f}x" if old and value else "-"
        rows.append([key, fmt(old, 3), fmt(value, 3), ratio])
    return table(["median seconds", "before", "after", "before / after"], rows)


def bytecode(src: Path, *, compiled: bool) -> None:
    """Compile the package's .pyc files (as a wheel install does), or remove them all."""
    package = src / "shipyard"
    if compiled:
        argv = [sys.executable, "-m", "compileall", "-q", "-x", "/examples/", str(package)]
        subprocess.run(argv, check=True)
    else:
        for cache in package.rglob("__pycache__"):
            shutil.rmtree(cache, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default="local,ssh1")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--port", type=int, default=18470, help="first nginx port")
    parser.add_argument("--ssh-port", type=int, default=2360, help="first port for test sshd")
    parser.add_argument("--workdir", default="/tmp/sybench/startup")
    parser.add_argument("--compare", help="the commit to measure side by side (before)")
    parser.add_argument(
        "--compiled", action="store_true", help="compile both sides' .pyc files first"
    )
    parser.add_argument("--json-out")
    args = parser.parse_args()
    if not 1 <= args.runs <= 30:
        parser.error("--runs must be 1-30")
    label = source_label()
    after = Side("after", label, source_root() / "src")
    sides = [after]
    if args.compare:
        commit = subprocess.run(
            ["git", "rev-parse", "--verify", f"{args.compare}^{{commit}}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        sides.insert(0, Side("before", commit, snapshot(commit) / "src"))
    for side in sides:
        bytecode(side.src, compiled=args.compiled)
    result: dict[str, Any] = {
        "benchmark": "startup",
        "settings": {"compiled": args.compiled},
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "runs": args.runs,
        "sides": {side.label: {"commit": side.commit} for side in sides},
    }
    measure(sides, args)
    for side in sides:
        result["sides"][side.label] |= {"results": side.results, "median": summary(side)}
    result["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    commit = os.environ.get("SHIPYARD_BENCH_COMMIT", "worktree")[:12]
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    name = f"startup-{commit}-{stamp}.json"
    out = Path(args.json_out or Path(__file__).with_name("results") / name)
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    before = result["sides"].get("before", {}).get("median")
    print(report(before, result["sides"]["after"]["median"]))
    print(f"results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
