"""The two-open race of a new key: how often does a handshake meet a mismatched pair?

A new key is a new `tls/key-<id>/` directory and a symlink to it renamed over the one
nginx reads (docs/tls.md): no reload. nginx opens the certificate and then the key at
each full handshake, so with ONE link a handshake whose two opens straddle the rename
reads the new certificate with the old key (or the reverse) and fails. Shipyard's site
names TWO links, read by turns by nginx's clock, and renames each only while the other
is read (plan/tls_links.py). This measures both, as a stress far beyond real use (a
real install renames once): one private nginx (one worker, Shipyard's TLS text), two
keys installed as Shipyard installs them, CLIENTS client processes doing full
handshakes back to back for SECONDS per phase:

1. control: no renames;
2. one link: the link renamed between the two key directories every INTERVAL seconds;
3. two links: whichever link may change now renamed every INTERVAL seconds (the other
   waits for its window), through the same decision Shipyard's install uses.

Reported per phase: handshakes, failed handshakes, renames, and nginx's "key values
mismatch" log lines.

    .venv/bin/python bench/tls_live_swap.py
    .venv/bin/python bench/tls_live_swap.py --seconds 20 --interval 0.001 --clients 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlib import machine, store_result, table
from tls_handshakes import NAME, client, free_port, nginx_conf

from shipyard.core.files import atomic_symlink
from shipyard.execute.tls_material import self_signed
from shipyard.host import tls_files
from shipyard.host.tls_key_owner import give_to_workers
from shipyard.host.tls_keys import id_of_certificate
from shipyard.plan.layout import Layout
from shipyard.plan.tls_conf import HttpsServer
from shipyard.plan.tls_links import wait_before_changing

PHASES = ("control", "one_link", "two_links")


@dataclass(frozen=True)
class Stress:
    seconds: float  # per phase
    interval: float  # between renames
    clients: int  # processes doing full handshakes


def renames(phase: str, links: tuple[Path, ...], dirs: list[Path], stress: Stress) -> int:
    """Until the clients are done: rename as the phase does; returns how many."""
    count = 0
    end = time.monotonic() + stress.seconds
    while phase != "control" and time.monotonic() < end:
        if phase == "one_link":
            atomic_symlink(dirs[count % 2], links[0])
        else:
            free = [i for i in (0, 1) if wait_before_changing(i, time.time()) == 0.0]
            if not free:
                time.sleep(0.005)
                continue
            atomic_symlink(dirs[count % 2], links[free[0]])
        count += 1
        time.sleep(stress.interval)
    return count


def run_phase(
    phase: str, port: int, links: tuple[Path, ...], dirs: list[Path], stress: Stress
) -> dict[str, int]:
    pipes, procs = [], []
    for _ in range(stress.clients):
        receive, send = multiprocessing.Pipe(duplex=False)
        proc = multiprocessing.Process(target=client, args=(port, stress.seconds, send))
        proc.start()
        pipes.append(receive)
        procs.append(proc)
    count = renames(phase, links, dirs, stress)
    handshakes = errors = 0
    for receive in pipes:
        got, failed = receive.recv()
        handshakes += len(got)
        errors += failed
    for proc in procs:
        proc.join()
    return {"handshakes": handshakes, "failed": errors, "renames": count}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per phase")
    parser.add_argument("--interval", type=float, default=0.001, help="seconds between renames")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--json-out")
    args = parser.parse_args(argv)
    stress = Stress(args.seconds, args.interval, args.clients)
    work = Path(tempfile.mkdtemp(prefix="sybs-", dir="/tmp"))
    work.chmod(0o755)
    (work / "tmp").mkdir()
    layout = Layout(work / "root", "bench", "swap")
    meta: dict[str, object] = {"source": "self-signed", "renewed_at": time.time()}
    dirs, keys = [], []
    for _ in range(2):
        material = self_signed([NAME])
        key_id = id_of_certificate(material.cert_pem)
        keys.append(
            tls_files.write_certificate(layout, key_id, material.cert_pem, material.key_pem, meta)
        )
        dirs.append(Path(f"key-{key_id}"))
    one = layout.tls_dir / "one"  # the single link of the lead's first design
    atomic_symlink(dirs[0], one)
    for path in (work, work / "root", layout.base.parent, layout.base):
        path.chmod(0o755)
    ports = {"one_link": free_port(), "two_links": free_port()}
    servers = {
        "one_link": (
            ports["one_link"],
            HttpsServer(
                listen=f"127.0.0.1:{ports['one_link']}",
                cert=one / tls_files.CERT_NAME,
                key=one / tls_files.KEY_NAME,
                hsts=None,
                zone="bench_one_link",
                per_handshake=True,
            ),
        ),
        "two_links": (
            ports["two_links"],
            HttpsServer(
                listen=f"127.0.0.1:{ports['two_links']}",
                cert=layout.tls_links[0] / tls_files.CERT_NAME,
                key=layout.tls_links[0] / tls_files.KEY_NAME,
                hsts=None,
                zone="bench_two_links",
                per_handshake=True,
                links=layout.tls_links,
            ),
        ),
    }
    conf = work / "nginx.conf"
    conf.write_text(nginx_conf(work, servers))
    result: dict[str, Any] = {
        "machine": machine(),
        "seconds": args.seconds,
        "interval": args.interval,
        "clients": args.clients,
        "key": "ECDSA P-256, self-signed, two keys",
    }
    nginx = subprocess.Popen(["nginx", "-p", f"{work}/", "-c", str(conf), "-g", "daemon off;"])
    try:
        deadline = time.monotonic() + 10
        while not (work / "nginx.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the worker is up
        for key in keys:
            give_to_workers(key, work / "nginx.pid", None)
        log = work / "error.log"
        for phase in PHASES:
            offset = log.stat().st_size
            port = ports["one_link" if phase == "control" else phase]
            links = (one,) if phase != "two_links" else layout.tls_links
            result[phase] = run_phase(phase, port, links, dirs, stress)
            text = log.read_bytes()[offset:].decode(errors="replace")
            result[phase]["mismatch_log_lines"] = text.count("key values mismatch")
    finally:
        nginx.send_signal(signal.SIGQUIT)
        try:
            nginx.wait(10)
        except subprocess.TimeoutExpired:
            nginx.kill()
        shutil.rmtree(work, ignore_errors=True)
    result["loadavg_at_end"] = list(os.getloadavg())
    path = store_result("tls_live_swap", result, out=args.json_out)
    rows = [
        [
            phase,
            str(result[phase]["handshakes"]),
            str(result[phase]["failed"]),
            str(result[phase]["renames"]),
            str(result[phase]["mismatch_log_lines"]),
        ]
        for phase in PHASES
    ]
    print(table(["phase", "handshakes", "failed", "renames", "mismatch log lines"], rows))
    print(f"stored {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
