"""`shipyard setup` on a server that boots with systemd as PID 1, and what a reboot costs.

One copy of the bootable image (tests/support/booted_root.py: systemd-nspawn --boot in a
network namespace of its own, 10.250.8.2) is booted, set up from nothing through
`execute.setup.setup_hosts`, deployed to (the example app, through the pipeline) and
rebooted twice; then setup runs again (it must change nothing). Measured, in seconds:

- boot: from starting systemd-nspawn to `systemctl is-system-running --wait` returning
  and sshd accepting connections;
- setup from nothing and the no-change run, per step (from the reporter's events);
- each reboot: the orderly poweroff (nspawn's exit), and from the new boot's start to the
  first 200 from /healthz through the server's nginx (the boot unit's `shipyard repair`
  brought supervisord and the active slot back). The first reboot's poweroff has no
  Shipyard unit running (the deploy, not systemd, started supervisord); the second's
  runs the boot unit's `shipyard host shutdown` (slots drain, nginx quits).

With `--build-image` the bootable image is also built from the mirror into a scratch
cache (debootstrap; the cached one is not touched) and timed.

    .venv/bin/python bench/booted.py [--build-image]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# setup ships a wheel of the running Shipyard, built from its checkout: measure the
# working tree, as bench/setup.py does
os.environ.setdefault("SHIPYARD_BENCH_REF", "worktree")

import benchlib
import httpx
import yaml
from setup import StepClock, one_setup, summary

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support import booted_root, fresh_root  # noqa: E402
from support.sshd import keygen  # noqa: E402

NET = 8  # 10.250.8.0/24 (the integration test uses 9)


def config(work: Path, key: Path, public: str, host: Any) -> dict[str, Any]:
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
            "listen": f"{host.address}:80",
        },
        "ssh": {
            "known_hosts": str(work / "known_hosts"),
            "identity_file": str(key),
            "config_file": str(work / "ssh_config"),
        },
        "setup": {"authorized_keys": [public]},
        "environments": {"bench": {"hosts": [f"deploy@{host.address}"]}},
    }


def _answers(url: str, timeout: float = 180) -> None:
    """Return once `url` answers 200 (polled every 50 ms)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url} did not answer within {timeout} s")


def reboot(host: Any) -> dict[str, Any]:
    started = time.monotonic()
    host.poweroff()
    off = time.monotonic()
    host.boot()
    booted = time.monotonic()
    _answers(f"http://{host.address}/healthz")
    back = time.monotonic()
    unit = host.nsenter("systemctl", "is-active", "shipyard-reconcile-bench.service")
    return {
        "poweroff_seconds": round(off - started, 2),
        "boot_seconds": round(booted - off, 2),
        "app_back_seconds": round(back - off, 2),
        "boot_unit": unit.stdout.strip(),
    }


def build_image() -> dict[str, Any]:
    """The bootable image built from the mirror into a scratch cache, timed."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-image-", dir="/var/tmp"))
    try:
        fresh_root.CACHE = scratch  # Image.path and the build read it
        started = time.monotonic()
        path = fresh_root.ensure_image(fresh_root.Image.BOOTABLE)
        return {
            "seconds": round(time.monotonic() - started, 2),
            "mib": round(path.stat().st_size / 2**20, 1),
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


async def scenario(work: Path) -> dict[str, Any]:
    key = work / "client_ed25519"
    public = keygen(key, "bench-booted")
    (work / "ssh_config").write_text("")
    host = booted_root.BootedHost(NET, public)
    try:
        (work / "known_hosts").write_text(host.known_hosts_line + "\n")
        started = time.monotonic()
        state = host.boot()
        result: dict[str, Any] = {"boot_seconds": round(time.monotonic() - started, 2)}
        result["boot_state"] = state
        config_path = benchlib.make_repo(work / "repo", config(work, key, public, host))
        print("setup from nothing", flush=True)
        result["first"] = summary(*await one_setup(config_path))
        started = time.monotonic()
        await benchlib.deploy(config_path, "bench", StepClock())
        result["deploy_seconds"] = round(time.monotonic() - started, 2)
        print("reboot (no Shipyard unit running)", flush=True)
        result["reboot_first"] = reboot(host)
        print("reboot (the boot unit running)", flush=True)
        result["reboot_second"] = reboot(host)
        print("setup again", flush=True)
        result["again"] = summary(*await one_setup(config_path))
        return result
    finally:
        host.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-image", action="store_true", help="also time the image build")
    args = parser.parse_args()
    why = booted_root.nspawn_available()
    if why is not None:
        raise SystemExit(why)
    work = Path(tempfile.mkdtemp(prefix="bench-booted-", dir="/tmp"))
    os.environ["SHIPYARD_WHEELHOUSE_CACHE"] = str(work / "wheelhouse")
    shared = Path.home() / ".cache" / "shipyard" / "wheelhouse"
    for house in shared.glob("*/.complete") if shared.is_dir() else []:  # dependency wheels
        skip = shutil.ignore_patterns("bluegreen_shipyard-*", "*.lock", "*.tar", "*.partial")
        shutil.copytree(house.parent, work / "wheelhouse" / house.parent.name, ignore=skip)
    machine = benchlib.machine()
    label = str(machine["shipyard"])
    if label.startswith("worktree at ") and "uncommitted" not in label:
        machine["shipyard"] = label.split()[-1]  # a clean src/: exactly that commit
        machine["source"] = label + " (src/ and examples/ clean: the commit itself)"
    try:
        result: dict[str, Any] = {
            "machine": machine,
            "image": "debootstrap bookworm --variant=minbase + "
            + ", ".join(fresh_root.Image.BOOTABLE.packages),
            **asyncio.run(scenario(work)),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.build_image:
        result["image_build"] = build_image()
    path = benchlib.store_result("booted", result)
    print(yaml.safe_dump(result, sort_keys=False))
    print(f"stored {path}")


if __name__ == "__main__":
    main()
