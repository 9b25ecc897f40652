"""TLS benchmark: certificate install and renewals under keep-alive load through nginx.

A local environment (managed nginx, the example app) with `tls.mode: acme` against
Pebble on loopback (tests/support/pebble.py: Pebble and pebble-challtestsrv, HTTP-01
validated through the environment's nginx). Three stages, each with load generators
(bench/loadgen.py, one child process per mode, RATE requests/s each):

1. install: the environment is deployed with TLS off (the app serves), then deployed
   with `tls.mode: acme` while one of its names does not resolve to the host yet: that
   deploy's PREPARE gives nginx the ACME path and the HTTPS server with the host's
   placeholder certificate (a reload, before the load starts), and its tls step fails
   validation. With the names fixed, one `tls renew` (Python API) obtains the first
   certificate and installs it (a new key directory, `tls/live` renamed over: no reload),
   under load on the plain-HTTP health path, which is never redirected.
2. renew: load over HTTPS (verified against Pebble's root) while RENEWALS forced renewals
   run back to back through Shipyard's Python API (`execute.tls.renew`): each an ACME
   order for the key the host keeps (`tls-csr`), the certificate renamed over the old
   one, which nginx loads at the next handshake: no reload.
3. new-key: NEW_KEYS renewals with `new_key=True` (`tls renew --new-key`): a new key
   directory and `tls/live` renamed over it, no reload.

Every request is counted; failed = non-2xx + connection errors. nginx reloads are
counted from its processes: a renewal after which nginx's workers are other processes
than before was a reload (a reload replaces every worker; the master stays).

    .venv/bin/python bench/tls.py                      # two keep-alive modes, 200 req/s each
    .venv/bin/python bench/tls.py --modes keepalive,keepalive-checked,fresh
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

import yaml
from benchlib import (
    APP,
    LoadProcess,
    RecordingReporter,
    base_config,
    deploy,
    git,
    load_env,
    machine,
    make_repo,
    shutdown_host,
    source_root,
    store_result,
    table,
)
from loadgen import Sample, summarize

from shipyard.errors import ShipyardError

NAME = "shop.example.com"
UNRESOLVED = "not-yet.example.com"  # a name whose DNS does not point at the host yet


def pebble_support() -> Any:
    """tests/support/pebble.py (it imports `support.apprepo`, so tests/ goes on the path)."""
    tests = source_root() / "tests"
    sys.path.insert(0, str(tests))
    spec = importlib.util.spec_from_file_location("support.pebble", tests / "support/pebble.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def start_load(
    url: str, modes: list[str], rate: float, work: Path, cafile: str | None
) -> list[LoadProcess]:
    loads = [
        LoadProcess(url, mode, rate, max_seconds=600, workdir=work, cafile=cafile) for mode in modes
    ]
    for load in loads:
        load.wait_ready()
    return loads


def stop_load(loads: list[LoadProcess]) -> dict[str, Any]:
    out = {}
    for load in loads:
        samples = [Sample(**s) for s in load.stop()]
        summary = summarize(samples)
        summary["failed_samples"] = [
            {"status": s.status, "error": s.error, "stale": s.stale}
            for s in samples
            if not 200 <= s.status < 300
        ][:100]
        out[load.mode] = summary
    return out


def nginx_processes(pid_file: Path) -> tuple[int, frozenset[int]]:
    """nginx's master pid and its workers' pids."""
    master = int(pid_file.read_text().strip())
    workers = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == master:
                workers.add(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue  # it exited meanwhile
    return master, frozenset(workers)


async def renewals(
    config: Path,
    count: int,
    reporter: RecordingReporter,
    pid_file: Path,
    *,
    force: bool = True,
    new_key: bool = False,
) -> dict[str, Any]:
    """`count` renewals back to back: seconds each, nginx reloads seen, what each said."""
    from shipyard.execute import tls

    env = load_env(config)
    seconds, keys, reported = [], [], []
    reloads = 0
    masters = set()
    for _ in range(count):
        before = nginx_processes(pid_file)
        t0 = time.monotonic()
        result = await tls.renew(env, {}, config.parent, reporter, force=force, new_key=new_key)
        assert result.renewed
        seconds.append(round(time.monotonic() - t0, 3))
        after = nginx_processes(pid_file)
        reloads += before[1] != after[1]
        masters |= {before[0], after[0]}
        keys.append(result.key)
        reported.append(result.reloaded)
    return {
        "seconds": seconds,
        "nginx_reloads": reloads,
        "nginx_masters": len(masters),
        "key": sorted(set(keys)),
        "reported_reloads": sum(1 for hosts in reported if hosts),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s per mode")
    parser.add_argument("--modes", default="keepalive-checked,keepalive")
    parser.add_argument("--renewals", type=int, default=10, help="renewals keeping the key")
    parser.add_argument("--new-keys", type=int, default=3, help="renewals with a new key")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds of load around stages")
    parser.add_argument("--json-out")
    args = parser.parse_args(argv)
    modes = args.modes.split(",")
    pebble_mod = pebble_support()
    work = Path(tempfile.mkdtemp(prefix="sybt-", dir="/tmp"))
    work.chmod(0o755)
    os.environ["XDG_STATE_HOME"] = str(work / "state")  # the ACME account key
    root = work / "hosts"
    free_port = pebble_mod.free_port
    http_port, https_port = free_port(), free_port()
    result: dict[str, Any] = {
        "machine": machine(),
        "rate": args.rate,
        "modes": modes,
        "renewals": args.renewals,
        "new_keys": args.new_keys,
        "idle_seconds": args.idle,
    }
    pebble = pebble_mod.Pebble(
        work / "pebble",
        http_port=http_port,
        dns={NAME: "127.0.0.1", UNRESOLVED: "127.0.0.9"},  # nothing listens on .9
    )
    try:
        with pebble:
            config = base_config(root, http_port)
            config["nginx"]["server_names"] = [NAME]
            config["environments"]["bench"]["tls"] = {
                "mode": "acme",
                "port": https_port,
                "acme": {"directory": pebble.directory, "ca_bundle": str(pebble.ca_bundle)},
            }
            config_path = make_repo(work / "repo", config)
            reporter = RecordingReporter()
            plain = f"http://127.0.0.1:{http_port}/healthz"

            # stage 1: deployed with TLS off, then with acme while a name does not resolve
            # to the host yet (the placeholder serves, validation fails); then `tls renew`
            # obtains the first certificate and installs it, under load on the plain
            # health path (never redirected)
            tls = config["environments"]["bench"]["tls"]
            tls["mode"] = "off"
            config_path.write_text(yaml.safe_dump(config, sort_keys=False))
            git(config_path.parent, "commit", "-qam", "tls off")
            asyncio.run(deploy(config_path, "bench: plain HTTP first", reporter))
            tls["mode"] = "acme"
            tls["acme"]["names"] = [NAME, UNRESOLVED]
            config_path.write_text(yaml.safe_dump(config, sort_keys=False))
            git(config_path.parent, "commit", "-qam", "tls acme, DNS not ready")
            try:
                asyncio.run(deploy(config_path, "bench: TLS on, a name not ready", reporter))
            except ShipyardError as exc:
                result["placeholder_deploy"] = exc.message[:300]
            else:
                raise SystemExit("the deploy with an unresolved name was expected to fail")
            del tls["acme"]["names"]
            config_path.write_text(yaml.safe_dump(config, sort_keys=False))
            git(config_path.parent, "commit", "-qam", "tls acme")
            pid_file = root / APP / "bench" / "run" / "nginx.pid"
            loads = start_load(plain, modes, args.rate, work, None)
            time.sleep(args.idle)
            installed = asyncio.run(renewals(config_path, 1, reporter, pid_file, force=False))
            time.sleep(args.idle)
            result["install"] = installed | {
                "seconds": installed["seconds"][0],
                "load": stop_load(loads),
                "flow": "placeholder",  # after a deploy with acme left the placeholder
            }

            # stage 2: renewals keeping the key, under HTTPS load; stage 3: new keys
            root_ca = work / "pebble-root.pem"
            root_ca.write_text(pebble.root_pem())
            https = f"https://127.0.0.1:{https_port}/healthz"
            for stage, count, new_key in (
                ("renew", args.renewals, False),
                ("new_key", args.new_keys, True),
            ):
                loads = start_load(https, modes, args.rate, work, str(root_ca))
                time.sleep(args.idle)
                done = asyncio.run(
                    renewals(config_path, count, reporter, pid_file, new_key=new_key)
                )
                time.sleep(args.idle)
                result[stage] = done | {"load": stop_load(loads)}
    finally:
        shutdown_host(str(root))
        shutil.rmtree(work, ignore_errors=True)
    result["loadavg_at_end"] = list(os.getloadavg())
    path = store_result("tls", result, out=args.json_out)
    rows = []
    for stage in ("install", "renew", "new_key"):
        for mode, s in result[stage]["load"].items():
            failed = s["non2xx"] + s["conn_errors"]
            reloads = str(result[stage]["nginx_reloads"])
            rows.append([stage, mode, str(s["requests"]), str(failed), reloads])
    print(table(["stage", "mode", "requests", "failed", "nginx reloads"], rows))
    print(f"stored {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
