"""`shipyard demo`: the quickstart, on this machine, with real nginx and supervisord.

Copies the example app into a fresh git repository, deploys version 1, changes it and
deploys version 2, then rolls back, printing what happened at each step. Run twice in
a row, it stops the previous demo's processes and starts over.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from shipyard.config.loader import ConfigFile
from shipyard.errors import ShipyardError
from shipyard.execute import pipeline
from shipyard.execute.reporter import PlainReporter
from shipyard.host.agent import run as run_host_op

# examples/reconcile, carried in the package (src/shipyard/examples/reconcile links to it)
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "reconcile"

DEMO_CONFIG = """\
app: reconcile
start: python3 app.py
health:
  path: /healthz
  interval: 0.2
  deadline: 20
nginx:
  listen: 127.0.0.1:{port}
rollback_window: 600
observe:
  window: 2
  interval: 0.5
keep_releases: 5
environments:
  local:
    hosts: [local]
    root: {root}
"""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=Shipyard Demo",
            "-c",
            "user.email=demo@localhost",
            *args,
        ],
        check=True,
        capture_output=True,
    )


def stop_demo(workdir: Path) -> None:
    root = workdir / "hosts"
    if (root / "reconcile" / "local").exists():
        run_host_op("shutdown", {"root": str(root), "app": "reconcile", "env": "local"})
        print(f"stopped the demo's processes under {root}")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _fetch(url: str) -> str:
    response = httpx.get(url + "healthz", timeout=5)
    return (
        f"HTTP {response.status_code}, version {response.headers.get('X-App-Version')}, "
        f"release {response.headers.get('X-Release')}"
    )


def run_demo(workdir: Path, port: int) -> int:
    if not EXAMPLE.is_dir():
        print(f"error: the example app is not at {EXAMPLE}", file=sys.stderr)
        print(
            "  hint: this copy of Shipyard is incomplete: reinstall it "
            "(pipx install --force bluegreen-shipyard)",
            file=sys.stderr,
        )
        return 2
    stop_demo(workdir)
    if not _port_free(port):
        print(f"error: port {port} is in use", file=sys.stderr)
        print("  hint: pass --port with a free port, e.g. --port 8089", file=sys.stderr)
        return 2
    shutil.rmtree(workdir, ignore_errors=True)
    repo, root = workdir / "repo", workdir / "hosts"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns("__pycache__", "shipyard.yml"))
    (repo / "shipyard.yml").write_text(DEMO_CONFIG.format(port=port, root=root))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "reconcile 1.0.0")
    config_path = repo / "shipyard.yml"
    config = ConfigFile.load(config_path)
    url = f"http://127.0.0.1:{port}/"
    runtime = pipeline.Runtime(reporter=PlainReporter())

    async def scenario() -> None:
        print("\n== 1. deploy version 1.0.0")
        first = await pipeline.deploy(config, "local", runtime, message="demo v1")
        print(f"   live: {url}  ->  {_fetch(url)}")
        (repo / "VERSION").write_text("2.0.0\n")
        _git(repo, "commit", "-q", "-am", "reconcile 2.0.0")
        print("\n== 2. deploy version 2.0.0 (zero downtime: blue-green switch)")
        second = await pipeline.deploy(config, "local", runtime, message="demo v2")
        print(f"   live: {url}  ->  {_fetch(url)}")
        print(f"\n== 3. roll back to {first.release_id} (the old slot is still warm)")
        back = await pipeline.rollback(config, "local", runtime, message="demo rollback")
        took = sum(back.timings.values())
        print(f"   live: {url}  ->  {_fetch(url)}")
        print(
            f"\nDone: deployed {first.release_id}, then {second.release_id}, then rolled back "
            f"in {took:.2f}s ({'warm switch' if back.warm else 'cold'})."
        )

    try:
        asyncio.run(scenario())
    except ShipyardError as exc:
        for line in exc.details():
            print(line, file=sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"  hint: {exc.hint}", file=sys.stderr)
        return int(exc.exit_code)
    print(f"The app is still running at {url}")
    me = Path(sys.argv[0]).name if Path(sys.argv[0]).name == "shipyard" else "shipyard"
    command = sys.argv[0] if Path(sys.argv[0]).is_file() else me
    print(f"Try: {command} status local -c {config_path}")
    print(f"     {command} history local -c {config_path}")
    print(f"Stop it with: {command} demo --stop --workdir {workdir}")
    return 0
