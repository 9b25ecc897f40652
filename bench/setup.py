"""`shipyard setup`: a fresh Debian 12 (or Ubuntu 24.04) root to deployable, and a second
(no-change) run.

Two fresh debootstrap copies (tests/support/fresh_root.py: an sshd in a chroot on a
loopback alias), each set up from nothing through the pipeline-level
`execute.setup.setup_hosts`:

- cold: an empty apt archive directory and an empty wheelhouse cache, so every package
  and every wheel is downloaded (from the Debian mirror and the package index);
- warm: the archives and wheels the cold run left, so nothing is downloaded.

Package downloads are also measured directly, before the cached root's setup: in that
root, `apt-get update` and `apt-get install --download-only` of setup's package list into
an empty archive directory (seconds and bytes; the directory is thrown away). Wheel
downloads: the cold wheelhouse time minus that of the no-change run, which only builds
Shipyard's own wheel again. After the cold setup: a real deploy of the example app
(through the pipeline), then setup again (it must change nothing).
Per step: seconds from the step's start to its end, from the reporter's events.

    .venv/bin/python bench/setup.py                   # Debian 12 (result: setup-*)
    .venv/bin/python bench/setup.py --image ubuntu    # Ubuntu 24.04 (result: setup-ubuntu-*)
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# setup ships a wheel of the running Shipyard, built from its checkout (pyproject.toml
# and all): pin's snapshot of src/ alone is not one, so this benchmark measures the
# working tree (commit first: the result records "worktree at <HEAD>", and whether src/
# had uncommitted changes)
os.environ.setdefault("SHIPYARD_BENCH_REF", "worktree")

import benchlib
import yaml

from shipyard.config.loader import ConfigFile
from shipyard.execute.setup import SetupReport, setup_hosts

ROOT = Path(__file__).resolve().parents[1]


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
        self.status: dict[str, str] = {}

    def phase(self, host: str, phase: str, status: str, detail: str = "") -> None:
        now = time.monotonic()
        if status == "start":
            self.started[phase] = now
        else:
            self.seconds[phase] = round(now - self.started.get(phase, now), 2)
            self.status[phase] = detail or status
        print(f"  {host} {phase} {status} {detail}", flush=True)

    def info(self, message: str) -> None:
        print(message, flush=True)

    def close(self) -> None:
        pass


def config(work: Path, key: Path, public: str, host: Any, port: int) -> dict[str, Any]:
    return {
        "app": "reconcile",
        "start": "python3 app.py",
        "health": {"path": "/healthz", "interval": 0.1, "deadline": 30},
        "drain_timeout": 2,
        "observe": {"window": 0},
        "gates": benchlib.NO_GATES,
        "nginx": {
            "mode": "system",
            "include_dir": "/etc/nginx/shipyard.d",
            "binary": "shipyard-nginx",
            "listen": f"{host.address}:{port}",
        },
        "ssh": {
            "known_hosts": str(work / "known_hosts"),
            "identity_file": str(key),
            "config_file": str(work / "ssh_config"),
        },
        "setup": {"authorized_keys": [public]},
        "environments": {"bench": {"hosts": [f"deploy@{host.address}:{host.port}"]}},
    }


async def one_setup(config_path: Path) -> tuple[SetupReport, StepClock, float]:
    env = ConfigFile.load(config_path).environment("bench")
    clock = StepClock()
    started = time.monotonic()
    report = await setup_hosts(env, env.hosts, check=False, reporter=clock)
    return report, clock, round(time.monotonic() - started, 2)


def summary(report: SetupReport, clock: StepClock, seconds: float) -> dict[str, Any]:
    return {
        "seconds": seconds,
        "changed": report.changed,
        "timings": {k: round(v, 2) for k, v in report.timings.items()},
        "steps": {
            step: {"seconds": clock.seconds.get(step), "status": clock.status.get(step)}
            for step in clock.seconds
        },
    }


def _apt_downloads(host: Any) -> dict[str, Any]:
    """apt-get update + download-only of PACKAGES into an empty directory, in the root."""
    from shipyard.plan.setup_plan import PACKAGES

    scratch = "/tmp/bench-apt-download"
    started = time.monotonic()
    update = host.run("apt-get", "update", "-qq")
    updated = time.monotonic()
    host.run("mkdir", "-p", f"{scratch}/partial")
    fetch = host.run(
        "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq",
        "--no-install-recommends", "--download-only", "-o", f"Dir::Cache::archives={scratch}",
        *PACKAGES,
    )  # fmt: skip
    done = time.monotonic()
    debs = list((host.root / scratch.lstrip("/")).glob("*.deb"))
    size = sum(deb.stat().st_size for deb in debs)
    host.run("rm", "-rf", scratch)
    if update.returncode or fetch.returncode:
        raise SystemExit(f"apt download failed: {update.stderr}{fetch.stderr}")
    return {
        "update_seconds": round(updated - started, 2),
        "download_seconds": round(done - updated, 2),
        "packages": len(debs),
        "mib": round(size / 2**20, 1),
    }


async def scenario(
    work: Path,
    name: str,
    address: str,
    apt_cache: Path,
    deploy: bool,
    fresh_root: Any,
    image: Any,
    measure_downloads: bool = False,
) -> dict[str, Any]:
    key = work / "client_ed25519"
    public = key.with_name(key.name + ".pub").read_text().strip()
    host = fresh_root.FreshHost(
        address, _free_port(address), public, apt_cache=apt_cache, image=image
    )
    try:
        host.start_sshd()
        with (work / "known_hosts").open("a") as known:
            known.write(host.known_hosts_line + "\n")
        port = _free_port(address)
        if measure_downloads:
            result_downloads = _apt_downloads(host)
        config_path = benchlib.make_repo(
            work / f"repo-{name}", config(work, key, public, host, port)
        )
        print(f"{name}: setup from nothing", flush=True)
        first = summary(*await one_setup(config_path))
        result: dict[str, Any] = {"first": first}
        if measure_downloads:
            result["apt_download"] = result_downloads
        if deploy:
            started = time.monotonic()
            await benchlib.deploy(config_path, "bench", StepClock())
            result["deploy_seconds"] = round(time.monotonic() - started, 2)
            print(f"{name}: setup again", flush=True)
            result["again"] = summary(*await one_setup(config_path))
        return result
    finally:
        host.stop()


# --image: the fresh_root.Image, what the result says of it, the result's kind
IMAGES = {
    "debian": (
        "MINBASE",
        "debootstrap bookworm --variant=minbase + openssh-server, python3",
        "setup",
    ),
    "ubuntu": (
        "NOBLE",
        "debootstrap noble (Ubuntu 24.04) --variant=minbase, main and universe + "
        "openssh-server, python3",
        "setup-ubuntu",
    ),
}


def _free_port(address: str) -> int:
    import socket

    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", choices=sorted(IMAGES), default="debian")
    args = parser.parse_args()
    fresh_root = _support("fresh_root")
    image = getattr(fresh_root.Image, IMAGES[args.image][0])
    sshd = _support("sshd")
    work = Path(tempfile.mkdtemp(prefix="bench-setup-", dir="/tmp"))
    cold_apt = work / "apt-cold"
    wheels = work / "wheelhouse"
    os.environ["SHIPYARD_WHEELHOUSE_CACHE"] = str(wheels)
    sshd.keygen(work / "client_ed25519", "bench-setup")
    (work / "ssh_config").write_text("")
    (work / "known_hosts").write_text("")
    machine = benchlib.machine()
    label = str(machine["shipyard"])
    if label.startswith("worktree at ") and "uncommitted" not in label:
        machine["shipyard"] = label.split()[-1]  # a clean src/: exactly that commit
        machine["source"] = label + " (src/ and examples/ clean: the commit itself)"
    try:
        cold = asyncio.run(scenario(work, "cold", "127.0.0.51", cold_apt, True, fresh_root, image))
        warm = asyncio.run(
            scenario(work, "warm", "127.0.0.52", cold_apt, False, fresh_root, image, True)
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "machine": machine,
        "image": IMAGES[args.image][1],
        "cold": cold,
        "warm": warm,
        "downloads": {
            **warm["apt_download"],
            "wheels_seconds": round(
                cold["first"]["timings"]["wheelhouse"] - cold["again"]["timings"]["wheelhouse"], 2
            ),
        },
    }
    path = benchlib.store_result(IMAGES[args.image][2], result)
    print(yaml.safe_dump(result, sort_keys=False))
    print(f"stored {path}")


if __name__ == "__main__":
    main()
