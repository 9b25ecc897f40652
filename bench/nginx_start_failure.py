"""A first deploy whose nginx cannot bind: how long until it fails, and what it says.

The first-contact failure of issue 14: `nginx.listen` names a port that another process
holds. A local environment `bench` (managed nginx on 127.0.0.1:PORT) is deployed
through Shipyard's Python API while a real server (`python3 -m http.server`, started and
stopped here) listens on that port. Per run, measured on the operator's clock:

- fail_s: from the deploy call to its DeployFailed;
- nginx_starts: how often nginx was started (nginx logs "still could not bind()" once
  per start, after its own five bind() tries half a second apart);
- names_cause / names_holder: the error message has nginx's bind() error, and the pid of
  the process that holds the port.

Run it on this commit, and on the commit before the fix for comparison:

    .venv/bin/python bench/nginx_start_failure.py
    SHIPYARD_BENCH_REF=da204b0 .venv/bin/python bench/nginx_start_failure.py

Each run writes a NEW file bench/results/nginx_start_failure-<commit>-<time>.json
(never overwriting one); Markdown is printed. Cleanup: the environment is shut down
through the host `shutdown` operation and the holder is stopped, also on errors.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import (
    RecordingReporter,
    base_config,
    deploy,
    fmt,
    machine,
    make_repo,
    median,
    port_free,
    require_free,
    shutdown_host,
    store_result,
    table,
)

from shipyard.execute.outcomes import DeployFailed
from shipyard.execute.session import PhaseFailed


def one_run(work: Path, port: int) -> dict[str, Any]:
    root = work / "hosts"
    config_path = make_repo(work / "repo", base_config(root, port))
    holder = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while port_free(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        start = time.monotonic()
        message = ""
        try:
            asyncio.run(deploy(config_path, "bench", RecordingReporter()))
        except (DeployFailed, PhaseFailed) as exc:
            message = " ".join([str(exc), *(error.message for error in exc.errors)])
        fail_s = time.monotonic() - start
        time.sleep(3)  # let a restarting nginx show itself in the log, if it restarts
        error_log = root / "reconcile" / "bench" / "logs" / "nginx-error.log"
        log = error_log.read_text() if error_log.exists() else ""
        return {
            "failed": bool(message),
            "fail_s": round(fail_s, 3),
            "nginx_starts": log.count("still could not bind()"),
            "names_cause": f"bind() to 127.0.0.1:{port} failed (98" in message,
            "names_holder": f"pid {holder.pid}" in message,
            "message": message[:600],
        }
    finally:
        shutdown_host(str(root))
        holder.terminate()
        holder.wait(timeout=10)


def _memory_kb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--port", type=int, default=18482)
    args = parser.parse_args()
    require_free(args.port)
    runs = []
    for number in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="sybnf-", dir="/tmp") as scratch:
            work = Path(scratch)
            work.chmod(0o755)
            runs.append(one_run(work, args.port))
        print(f"run {number + 1}: {runs[-1]['fail_s']} s, {runs[-1]['nginx_starts']} starts")
    result = {
        "machine": {**machine(), "memory_kb": _memory_kb()},
        "runs": runs,
        "median_fail_s": median([run["fail_s"] for run in runs]),
    }
    out = store_result("nginx_start_failure", result)
    rows = [
        [
            str(i + 1),
            fmt(run["fail_s"]),
            str(run["nginx_starts"]),
            "yes" if run["names_cause"] else "no",
            "yes" if run["names_holder"] else "no",
        ]
        for i, run in enumerate(runs)
    ]
    print(table(["run", "deploy failed after (s)", "nginx starts", "cause", "holder"], rows))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
