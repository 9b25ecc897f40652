"""The two-open race of a new key: how often does a handshake meet a mismatched pair?

A new key is a new `tls/key-<id>/` directory and the `tls/live` link renamed over
(docs/tls.md): no reload. nginx opens `live/fullchain.pem` and `live/privkey.pem` one
after the other at each full handshake, so a handshake whose two opens straddle the
rename reads the new certificate with the old key (or the reverse) and fails. This
measures how often that happens, as a stress far beyond real use: one private nginx
(one worker, Shipyard's TLS text), two keys installed as Shipyard installs them, CLIENTS
client processes doing full handshakes back to back, and the link renamed between the
two key directories every INTERVAL seconds (a real install renames it once). A control
phase of the same length without renames comes first. Reported: handshakes, failed
handshakes, renames, and nginx's "key values mismatch" log lines.

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


def phase(
    port: int, seconds: float, clients: int, live: Path, swap: list[Path], interval: float
) -> dict[str, int]:
    """Full handshakes from `clients` processes for `seconds`, `live` renamed between the
    directories in `swap` every `interval` seconds meanwhile (none: a control)."""
    pipes, procs = [], []
    for _ in range(clients):
        receive, send = multiprocessing.Pipe(duplex=False)
        proc = multiprocessing.Process(target=client, args=(port, seconds, send))
        proc.start()
        pipes.append(receive)
        procs.append(proc)
    renames = 0
    end = time.monotonic() + seconds
    while swap and time.monotonic() < end:
        atomic_symlink(swap[renames % 2], live)
        renames += 1
        time.sleep(interval)
    handshakes = errors = 0
    for receive in pipes:
        got, failed = receive.recv()
        handshakes += len(got)
        errors += failed
    for proc in procs:
        proc.join()
    return {"handshakes": handshakes, "failed": errors, "renames": renames}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per phase")
    parser.add_argument("--interval", type=float, default=0.001, help="seconds between renames")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--json-out")
    args = parser.parse_args(argv)
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
    for path in (work, work / "root", layout.base.parent, layout.base):
        path.chmod(0o755)
    port = free_port()
    server = HttpsServer(
        listen=f"127.0.0.1:{port}",
        cert=layout.tls_live / tls_files.CERT_NAME,
        key=layout.tls_live / tls_files.KEY_NAME,
        hsts=None,
        zone="bench_swap",
        per_handshake=True,
    )
    conf = work / "nginx.conf"
    conf.write_text(nginx_conf(work, {"swap": (port, server)}))
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
        for name, swap in (("control", []), ("renaming", dirs)):
            result[name] = phase(
                port, args.seconds, args.clients, layout.tls_live, swap, args.interval
            )
        log = (work / "error.log").read_text(errors="replace")
        result["mismatch_log_lines"] = log.count("key values mismatch")
        result["error_log_tail"] = log.splitlines()[-5:]
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
        [p, str(result[p]["handshakes"]), str(result[p]["failed"]), str(result[p]["renames"])]
        for p in ("control", "renaming")
    ]
    print(table(["phase", "handshakes", "failed", "renames of live"], rows))
    print(f"nginx 'key values mismatch' lines: {result['mismatch_log_lines']}")
    print(f"stored {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
