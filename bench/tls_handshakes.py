"""TLS handshake cost: a certificate nginx loads at start vs one it loads per handshake.

Renewals keep the key and rename a new certificate over the old one, which nginx serves
without a reload because it loads the certificate and key at each handshake (a variable
in `ssl_certificate`, docs/tls.md). That costs every full handshake two file reads and
the parsing of a certificate chain and a key. This measures it.

One private nginx (one worker process, as Shipyard's managed nginx), three HTTPS servers
with Shipyard's own TLS text (`plan/tls_conf.py`: Mozilla intermediate) and the same
self-signed ECDSA P-256 certificate, installed as Shipyard installs it
(`host/tls_files.py`, the key owned by nginx's worker user): "at start" (the static
paths, as before key directories), "per handshake" (through the `tls/live-a` and
`tls/live-b` links, picked by a map on `$msec`: plan/tls_links.py), and, for the cost of
the links alone, "per handshake, the key's directory" (`tls/key-<id>/` named in the map,
as before the links).
CLIENTS client processes each open a TCP connection, do a full TLS handshake (no session
resumption), and close, one after another, for SECONDS per round; rounds alternate the
two servers (ROUNDS each, the order flipped every round), so a change in the machine's
load falls on both. Reported: handshakes per second (all clients together) and the
handshake time's p50 and p99 as a client sees it (connect + handshake).

    .venv/bin/python bench/tls_handshakes.py
    .venv/bin/python bench/tls_handshakes.py --rounds 6 --seconds 5 --clients 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import fmt, machine, store_result, table

from shipyard.execute.tls_material import self_signed
from shipyard.host import tls_files
from shipyard.host.tls_key_owner import give_to_workers
from shipyard.host.tls_keys import id_of_certificate
from shipyard.plan.layout import Layout
from shipyard.plan.tls_conf import HttpsServer, certificate_map, tls_directives

NAME = "shop.example.com"
KINDS = ("at_start", "per_handshake_dir", "per_handshake")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def nginx_conf(work: Path, servers: dict[str, tuple[int, HttpsServer]]) -> str:
    maps = "".join(certificate_map(server) for _, server in servers.values())
    blocks = "".join(
        f"""
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name {NAME};
{tls_directives(server)}        location / {{ return 200 "ok\\n"; }}
    }}
"""
        for port, server in servers.values()
    )
    return f"""worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {work}/tmp;
    proxy_temp_path {work}/tmp;
    fastcgi_temp_path {work}/tmp;
    uwsgi_temp_path {work}/tmp;
    scgi_temp_path {work}/tmp;
{maps}{blocks}}}
"""


def client(port: int, seconds: float, out: Any) -> None:
    """Full handshakes one after another for `seconds`; sends back each one's duration."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the cost measured is the server's
    times: list[float] = []
    errors = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.perf_counter()
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
                context.wrap_socket(raw, server_hostname=NAME),
            ):
                times.append(time.perf_counter() - t0)
        except OSError:
            errors += 1
    out.send((times, errors))
    out.close()


def one_round(port: int, seconds: float, clients: int) -> tuple[list[float], int, float]:
    pipes, procs = [], []
    started = time.monotonic()
    for _ in range(clients):
        receive, send = multiprocessing.Pipe(duplex=False)
        proc = multiprocessing.Process(target=client, args=(port, seconds, send))
        proc.start()
        pipes.append(receive)
        procs.append(proc)
    times: list[float] = []
    errors = 0
    for receive in pipes:
        got, failed = receive.recv()
        times += got
        errors += failed
    for proc in procs:
        proc.join()
    return times, errors, time.monotonic() - started


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6, help="rounds per kind")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per round")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--json-out")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="sybh-", dir="/tmp"))
    work.chmod(0o755)
    (work / "tmp").mkdir()
    layout = Layout(work / "root", "bench", "handshakes")
    material = self_signed([NAME])
    key_id = id_of_certificate(material.cert_pem)
    meta: dict[str, object] = {"source": "self-signed", "renewed_at": time.time()}
    key = tls_files.write_certificate(layout, key_id, material.cert_pem, material.key_pem, meta)
    for path in (work, work / "root", layout.base.parent, layout.base):
        path.chmod(0o755)
    served = tls_files.served(layout)
    assert served is not None and served.per_handshake
    direct = layout.tls_key_dir(key_id)
    ports = {kind: free_port() for kind in KINDS}
    servers = {
        kind: (
            ports[kind],
            HttpsServer(
                listen=f"127.0.0.1:{ports[kind]}",
                cert=served.cert if kind != "per_handshake_dir" else direct / tls_files.CERT_NAME,
                key=served.key if kind != "per_handshake_dir" else direct / tls_files.KEY_NAME,
                hsts=None,
                zone=f"bench_{kind}",
                per_handshake=kind != "at_start",
                # per_handshake_dir: the key's directory itself, no links (before them)
                links=layout.tls_links if kind == "per_handshake" else None,
            ),
        )
        for kind in KINDS
    }
    conf = work / "nginx.conf"
    conf.write_text(nginx_conf(work, servers))
    result: dict[str, Any] = {
        "machine": machine(),
        "rounds": args.rounds,
        "seconds": args.seconds,
        "clients": args.clients,
        "key": "ECDSA P-256, self-signed (what Shipyard makes)",
        "per_handshake_through": "the live links, picked by a map on $msec",
    }
    nginx = subprocess.Popen(["nginx", "-p", f"{work}/", "-c", str(conf), "-g", "daemon off;"])
    try:
        deadline = time.monotonic() + 10
        while not (work / "nginx.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the worker is up
        give_to_workers(key, work / "nginx.pid", None)
        result["key_owner_uid"] = key.stat().st_uid
        per_kind: dict[str, dict[str, Any]] = {
            k: {"times": [], "errors": 0, "elapsed": 0.0} for k in KINDS
        }
        for kind in KINDS:  # warm-up: not counted
            one_round(ports[kind], 1.0, args.clients)
        for n in range(args.rounds):
            order = KINDS if n % 2 == 0 else tuple(reversed(KINDS))
            for kind in order:
                times, errors, elapsed = one_round(ports[kind], args.seconds, args.clients)
                per_kind[kind]["times"] += times
                per_kind[kind]["errors"] += errors
                per_kind[kind]["elapsed"] += elapsed
                per_kind[kind].setdefault("rounds_per_s", []).append(round(len(times) / elapsed, 1))
    finally:
        nginx.send_signal(signal.SIGQUIT)
        try:
            nginx.wait(10)
        except subprocess.TimeoutExpired:
            nginx.kill()
        shutil.rmtree(work, ignore_errors=True)
    for kind in KINDS:
        data = per_kind[kind]
        times = data.pop("times")
        data["handshakes"] = len(times)
        data["handshakes_per_s"] = round(len(times) / data["elapsed"], 1)
        data["p50_ms"] = round(percentile(times, 50) * 1000, 3)
        data["p99_ms"] = round(percentile(times, 99) * 1000, 3)
        data["elapsed"] = round(data["elapsed"], 2)
        result[kind] = data
    result["loadavg_at_end"] = list(os.getloadavg())
    path = store_result("tls_handshakes", result, out=args.json_out)
    rows = [
        [
            kind,
            f"{result[kind]['handshakes']:,}",
            fmt(result[kind]["handshakes_per_s"], 1),
            fmt(result[kind]["p50_ms"]),
            fmt(result[kind]["p99_ms"]),
            str(result[kind]["errors"]),
        ]
        for kind in KINDS
    ]
    print(table(["certificate loaded", "handshakes", "per s", "p50 ms", "p99 ms", "errors"], rows))
    print(f"stored {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
