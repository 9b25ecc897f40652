"""How a command reaches the host agent: what each option costs, on one host.

A warm rollback's fixed costs are the connection and the host agent. This measures,
RUNS times each, the time from "start" to the first answer (`hello`):

- `per-command agent` (what Shipyard does): start `shipyard host serve` (a subprocess
  locally; an SSH exec channel on an open connection remotely) and ask it `hello`;
- `resident agent`: an agent already running on the host, listening on a unix socket
  (a prototype: the agent's own `handle_line` behind a threaded unix-socket server in a
  process started once), reached locally by connecting to the socket and over SSH
  through the open connection (direct-streamlocal, as `ssh -L` to a socket does);
- `round trip`: one more `hello` on an agent already answering (the floor);
- `ssh connect`: opening the SSH connection itself (key exchange, authentication).

    .venv/bin/python bench/agent_options.py --runs 15

Writes bench/results/agent_options-<commit12>-<UTCstamp>.json (or --json-out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import SHIPYARD_COMMAND, fmt, machine, median, sshd_support, table
from pin import source_root

from shipyard import __version__
from shipyard.protocol.op import PROTOCOL_VERSION
from shipyard.transport.local import LocalTransport
from shipyard.transport.ssh import SshTransport

RESIDENT = """
import json, os, socketserver, sys
from shipyard.host.agent import handle_line
class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(json.dumps(handle_line(line)).encode() + b"\\n")
            self.wfile.flush()
path = sys.argv[1]
server = socketserver.ThreadingUnixStreamServer(path, Handler)
os.chmod(path, 0o600)
print("ready", flush=True)
server.serve_forever()
"""


def hello_line(root: str) -> bytes:
    request = {"root": root, "app": "reconcile", "env": "bench"}
    request |= {"operator_version": __version__, "protocol": PROTOCOL_VERSION}
    return json.dumps({"op": "hello", "request": request}).encode() + b"\n"


async def local(root: str, socket_path: str, runs: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"per-command agent": [], "resident agent": [], "round trip": []}
    line = hello_line(root)
    for _ in range(runs):
        transport = LocalTransport()
        started = time.monotonic()
        channel = await transport.channel([sys.executable, "-m", "shipyard.host", "serve"])
        await channel.request(line, 30)
        out["per-command agent"].append(time.monotonic() - started)
        started = time.monotonic()
        await channel.request(line, 30)
        out["round trip"].append(time.monotonic() - started)
        await channel.close()
        started = time.monotonic()
        reader, writer = await asyncio.open_unix_connection(socket_path)
        writer.write(line)
        await reader.readline()
        out["resident agent"].append(time.monotonic() - started)
        writer.close()
        await writer.wait_closed()
    return out


async def remote(fleet: Any, host: Any, root: str, socket_path: str, runs: int) -> dict[str, Any]:
    out: dict[str, list[float]] = {
        "ssh connect": [],
        "per-command agent": [],
        "resident agent": [],
        "round trip": [],
    }
    line = hello_line(root)
    for _ in range(runs):
        transport = SshTransport(host.target, fleet.options())
        started = time.monotonic()
        await transport.connect()
        out["ssh connect"].append(time.monotonic() - started)
        started = time.monotonic()
        channel = await transport.channel([*SHIPYARD_COMMAND.split(), "host", "serve"])
        await channel.request(line, 30)
        out["per-command agent"].append(time.monotonic() - started)
        started = time.monotonic()
        await channel.request(line, 30)
        out["round trip"].append(time.monotonic() - started)
        await channel.close()
        conn = transport._conn  # bench-only: the open connection, for the prototype
        assert conn is not None
        started = time.monotonic()
        reader, writer = await conn.open_unix_connection(socket_path)
        writer.write(line)
        await reader.readline()
        out["resident agent"].append(time.monotonic() - started)
        writer.close()
        await transport.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--ssh-port", type=int, default=2380)
    parser.add_argument("--json-out")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="syao-", dir="/tmp"))
    workdir.chmod(0o755)
    root = str(workdir / "root")
    socket_path = str(workdir / "agent.sock")
    env = dict(os.environ, PYTHONPATH=str(source_root() / "src"))
    resident = subprocess.Popen(
        [sys.executable, "-c", RESIDENT, socket_path], env=env, stdout=subprocess.PIPE, text=True
    )
    fleet = None
    try:
        assert resident.stdout is not None and resident.stdout.readline().strip() == "ready"
        results: dict[str, Any] = {"local": asyncio.run(local(root, socket_path, args.runs))}
        fleet = sshd_support().SshFleet(port=args.ssh_port)
        host = fleet(1)[0]
        results["ssh, 1 host"] = asyncio.run(remote(fleet, host, root, socket_path, args.runs))
    finally:
        resident.terminate()
        resident.wait()
        if fleet is not None:
            fleet.cleanup()
    result = {
        "benchmark": "agent_options",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "runs": args.runs,
        "seconds": results,
        "median": {
            where: {what: round(median(v), 4) for what, v in values.items()}
            for where, values in results.items()
        },
    }
    commit = os.environ.get("SHIPYARD_BENCH_COMMIT", "worktree")[:12]
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    name = f"agent_options-{commit}-{stamp}.json"
    out = Path(args.json_out or Path(__file__).with_name("results") / name)
    out.write_text(json.dumps(result, indent=2) + "\n")
    rows = [
        [where, what, fmt(value, 4)]
        for where, values in result["median"].items()
        for what, value in values.items()
    ]
    print(table(["where", "to the first answer", "median seconds"], rows))
    print(f"results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
