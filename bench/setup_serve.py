"""`shipyard setup` with `setup.serve: true`, as a sudo user: what the serve step costs,
and how soon the installed serve answers and reaches the host it watches.

One fresh Debian 12 root (tests/support/fresh_root.py, an sshd in a chroot on
127.0.0.145) with a user `admin` with passwordless sudo; apt's downloads come from a
cache of this benchmark's own, seeded by hard links from the shared one (so the packages
are mostly cached; the figures are not those of a cold host: bench/setup.py has those).
Through the pipeline-level `execute.setup.setup_hosts`, as `shipyard setup` calls it:

1. setup from nothing, per step (the reporter's events);
2. serve's key authorized by hand for the deploy user (the `next:` step), then serve
   started from the installed unit's User=, WorkingDirectory= and ExecStart= (no systemd
   runs in the chroot): seconds until `/api/health` answers, and until its first sample
   of the watched host's resources (over SSH with its own key) shows in the API;
3. setup again (it must change nothing), per step.

    .venv/bin/python bench/setup_serve.py
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# setup ships a wheel of the running Shipyard, built from its checkout: measure the
# working tree (as bench/setup.py does, and for the same reason)
os.environ.setdefault("SHIPYARD_BENCH_REF", "worktree")

import benchlib
import httpx
import yaml

from shipyard.config.loader import ConfigFile
from shipyard.execute.setup import SetupReport, setup_hosts

ROOT = Path(__file__).resolve().parents[1]
ADDRESS = "127.0.0.145"
TOKEN = "bench-token-3301"


def _support(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(
        f"shipyard_bench_{name}", ROOT / "tests" / "support" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class StepClock:
    """A reporter that keeps each step's start and end (and prints plain lines)."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.seconds: dict[str, float] = {}

    def phase(self, host: str, phase: str, status: str, detail: str = "") -> None:
        now = time.monotonic()
        if status == "start":
            self.started[phase] = now
        else:
            self.seconds[phase] = round(now - self.started.get(phase, now), 2)
        print(f"  {host} {phase} {status} {detail}", flush=True)

    def info(self, message: str) -> None:
        print(message, flush=True)

    def close(self) -> None:
        pass


async def one_setup(config_path: Path) -> dict[str, Any]:
    env = ConfigFile.load(config_path).environment("bench")
    clock = StepClock()
    started = time.monotonic()
    report: SetupReport = await setup_hosts(
        env, env.hosts, check=False, reporter=clock, config_file=config_path
    )
    return {
        "seconds": round(time.monotonic() - started, 2),
        "changed": report.changed,
        "serve_status": report.hosts[0].steps.get("serve"),
        "timings": {k: round(v, 2) for k, v in report.timings.items()},
        "steps": clock.seconds,
    }


def config(work: Path, key: Path, public: str, host: Any, serve_port: int) -> dict[str, Any]:
    from shipyard.serve.web.auth import hash_secret

    return {
        "app": "reconcile",
        "start": "python3 app.py",
        "gates": benchlib.NO_GATES,
        "nginx": {
            "mode": "system",
            "include_dir": "/etc/nginx/shipyard.d",
            "binary": "shipyard-nginx",
            "listen": f"{ADDRESS}:{_free_port()}",
        },
        "ssh": {
            "known_hosts": str(work / "known_hosts"),
            "identity_file": str(key),
            "config_file": str(work / "ssh_config"),
        },
        "setup": {"user": "admin", "authorized_keys": [public], "serve": True},
        "metrics": {"resource_alerts": {"sample_interval": 5}},
        "serve": {"listen": f"{ADDRESS}:{serve_port}", "auth": {"token_hash": hash_secret(TOKEN)}},
        "environments": {"bench": {"hosts": [f"deploy@{ADDRESS}:{host.port}"]}},
    }


def serve_times(host: Any, work: Path, serve_port: int) -> dict[str, float]:
    """Start serve from its unit; seconds to /api/health and to the first host sample."""
    url = f"http://{ADDRESS}:{serve_port}"
    started = time.monotonic()
    process = host.start_unit("/etc/systemd/system/shipyard-serve.service", work / "serve.log")
    times: dict[str, float] = {}
    try:
        deadline = started + 180
        while time.monotonic() < deadline and len(times) < 2:
            with contextlib.suppress(httpx.HTTPError):
                if "health" not in times:
                    if httpx.get(f"{url}/api/health", timeout=5).status_code == 200:
                        times["health"] = round(time.monotonic() - started, 2)
                else:
                    page = httpx.get(f"{url}/api/environments/bench/resources", timeout=5,
                                     headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
                    if page.status_code == 200 and page.json().get("hosts"):
                        times["first_sample"] = round(time.monotonic() - started, 2)
            time.sleep(0.1)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
    if len(times) < 2:
        raise SystemExit(f"serve did not answer: {(work / 'serve.log').read_text()[-2000:]}")
    return times


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind((ADDRESS, 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args()
    fresh_root = _support("fresh_root")
    sshd = _support("sshd")
    work = Path(tempfile.mkdtemp(prefix="bench-setup-serve-", dir="/tmp"))
    apt = fresh_root.APT_CACHE.with_name("apt-archives-bench-setup-serve")
    apt.mkdir(parents=True, exist_ok=True)
    for deb in fresh_root.APT_CACHE.glob("*.deb"):
        with contextlib.suppress(FileExistsError):
            os.link(deb, apt / deb.name)
    key = work / "client_ed25519"
    public = sshd.keygen(key, "bench-setup-serve")
    (work / "ssh_config").write_text("")
    machine = benchlib.machine()
    label = str(machine["shipyard"])
    if label.startswith("worktree at ") and "uncommitted" not in label:
        machine["shipyard"] = label.split()[-1]
        machine["source"] = label + " (src/ and examples/ clean: the commit itself)"
    host = fresh_root.FreshHost(ADDRESS, _free_port(), public, apt_cache=apt)
    try:
        host.add_sudo_user("admin", public)
        host.start_sshd()
        (work / "known_hosts").write_text(host.known_hosts_line + "\n")
        serve_port = _free_port()
        config_path = benchlib.make_repo(work / "repo", config(work, key, public, host, serve_port))
        print("setup from nothing, as admin (sudo), with setup.serve", flush=True)
        first = asyncio.run(one_setup(config_path))
        serve_key = (host.root / "home/shipyard/.ssh/shipyard-serve_ed25519.pub").read_text()
        with (host.root / "home/deploy/.ssh/authorized_keys").open("a") as keys:
            keys.write(serve_key)
        print("serve from its unit", flush=True)
        serve = serve_times(host, work, serve_port)
        print("setup again", flush=True)
        again = asyncio.run(one_setup(config_path))
    finally:
        host.stop()
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "machine": machine,
        "image": "debootstrap bookworm --variant=minbase + openssh-server, python3; sudo",
        "first": first,
        "serve": serve,
        "again": again,
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    path = benchlib.store_result("setup_serve", result)
    print(yaml.safe_dump(result, sort_keys=False))
    print(f"stored {path}")


if __name__ == "__main__":
    main()
