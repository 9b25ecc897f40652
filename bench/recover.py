"""`shipyard recover` from a fresh host to serving (RTO), each step's share; the RPO of
the default schedule.

Two SSH test hosts (tests/support/sshd.py, sshd on 127.0.0.x with its own key; each
"server" is this same machine), a real PostgreSQL server with a database of about `--mb`
MiB (bench/backup.py's table), an off-site restic repository (a directory outside both
hosts' roots). In one run:

1. deploy the example app to the first host (the pipeline), back the database up
   (`backup run`: its duration is the backup's share of the RPO);
2. lose the first server: its environment stopped and removed, its sshd stopped; the
   database dropped and created again, empty (a new database server);
3. point the configuration at the second host and time `pipeline.recover` until it
   returns (it returns once the release answered through nginx), with each step's time,
   then check that every row is back and the app answers.

RPO of the default schedule (`backup.schedule.every`, one day) = every + this backup's
duration: what is lost when the server dies just before a backup finishes.
Writes a NEW file bench/results/recover-<commit12>-<UTCstamp>.json.

    .venv/bin/python bench/recover.py --mb 256
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from benchlib import NO_GATES, RecordingReporter, fmt, machine, make_repo, sshd_support, table
from pin import source_root
from resultfiles import store_result

from shipyard.config.backup_schedule import BackupSchedule
from shipyard.config.loader import ConfigFile
from shipyard.execute import backup, pipeline
from shipyard.plan import schedule
from shipyard.plan.recover import shares

sys.path.insert(0, str(source_root() / "tests"))
from backup import fill  # bench/backup.py: the same table
from support.postgres import postgres_server

PASSWORD = "bench-restic-pw"


def host_entry(host: Any, port: int) -> dict[str, str]:
    return {
        "address": f"root@{host.address}:{host.port}",
        "root": str(host.root_dir),
        "listen": f"{host.address}:{port}",
    }


def write_config(work: Path, fleet: Any, host: Any, port: int) -> dict[str, Any]:
    return {
        "app": "reconcile",
        "start": "python3 app.py",
        "health": {"path": "/healthz", "interval": 0.1, "deadline": 30},
        "drain_timeout": 2,
        "observe": {"window": 0},
        "gates": NO_GATES,
        "shipyard_command": f"{sys.executable} -m shipyard",
        "ssh": {
            "known_hosts": str(fleet.known_hosts),
            "identity_file": str(fleet.client_key),
            "config_file": str(fleet.ssh_config),
        },
        "secrets": {
            "DATABASE_URL": {"from_file": str(work / "db-url")},
            "RESTIC_PASSWORD": {"from_file": str(work / "restic-pw")},
        },
        "environments": {
            "bench": {
                "hosts": [host_entry(host, port)],
                "backup": {
                    "password_secret": "RESTIC_PASSWORD",
                    "repository": str(work / "offsite"),
                    "sources": [{"name": "db", "type": "postgres", "secret": "DATABASE_URL"}],
                    "checks": [{"source": "db", "sql": "SELECT count(*) > 0 FROM orders",
                                "expect": "t"}],
                    "timeout": 3600,
                },
            }
        },
    }  # fmt: skip


def lose(host: Any) -> None:
    request = json.dumps({"root": str(host.root_dir), "app": "reconcile", "env": "bench"})
    subprocess.run(
        [sys.executable, "-m", "shipyard.host", "shutdown"],
        input=request,
        text=True,
        check=False,
        capture_output=True,
    )
    shutil.rmtree(host.root_dir / "reconcile", ignore_errors=True)
    host.stop()


def run(mb: int, ssh_port: int) -> dict[str, Any]:
    sshd = sshd_support()
    fleet = sshd.SshFleet(port=ssh_port)
    work = Path(tempfile.mkdtemp(prefix="syrc-", dir="/tmp"))
    work.chmod(0o755)
    try:
        old, new = fleet(2)
        for host in (old, new):
            for path in [host.root_dir, *host.root_dir.parents]:
                if str(path).startswith("/tmp/"):
                    path.chmod(path.stat().st_mode | 0o005)
        port = 18790
        with postgres_server("-c shared_buffers=128MB -c max_wal_size=4GB") as pg:
            data = fill(pg, mb)
            (work / "db-url").write_text(pg.url("bench"))
            (work / "restic-pw").write_text(PASSWORD)
            config_data = write_config(work, fleet, old, port)
            config_path = make_repo(work / "repo", config_data)
            reporter = RecordingReporter()
            runtime = pipeline.Runtime(reporter=reporter)
            config = ConfigFile.load(config_path)
            asyncio.run(pipeline.deploy(config, "bench", runtime, message="before the loss"))
            started = time.monotonic()
            (record,) = asyncio.run(backup.run(config, "bench", reporter))
            backup_s = round(time.monotonic() - started, 2)

            lose(old)
            pg.psql("postgres", "DROP DATABASE bench")
            pg.createdb("bench")

            config_data["environments"]["bench"]["hosts"] = [host_entry(new, port)]
            config_path.write_text(json.dumps(config_data))  # YAML is a superset of JSON
            config = ConfigFile.load(config_path)
            started = time.monotonic()
            result = asyncio.run(
                pipeline.recover(config, "bench", runtime, to=f"root@{new.address}:{new.port}")
            )
            rto = round(time.monotonic() - started, 2)
            response = httpx.get(f"http://{new.address}:{port}/healthz", timeout=10)
            rows = int(pg.psql("bench", "SELECT count(*) FROM orders"))
            lose(new)
    finally:
        fleet.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    every = BackupSchedule().every
    return {
        **data,
        "dump_bytes": record.size_bytes,
        "backup_s": backup_s,
        "backup_host_s": record.duration,
        "rto_s": rto,
        "recover_steps_s": result.steps,
        "recover_step_shares_pct": shares(result.steps),
        "release_from": result.release_from,
        "serving_after": response.status_code,
        "rows_after_recover": rows,
        "restored_all_rows": rows == data["rows"],
        "default_schedule_every_s": every,
        "default_overdue_after_s": every + schedule.grace(every),
        "rpo_default_schedule_s": schedule.rpo(BackupSchedule(), backup_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=256, help="database size to aim for (MiB)")
    parser.add_argument("--ssh-port", type=int, default=2290, help="the test sshds' port")
    args = parser.parse_args()
    started = time.time()
    result = {
        "machine": machine(),
        "target_mb": args.mb,
        "result": run(args.mb, args.ssh_port),
        "wall_s": round(time.time() - started, 1),
    }
    out = store_result("recover", result)
    r = result["result"]
    print(f"database {r['database_bytes'] / 2**20:.0f} MiB, {r['rows']} rows")
    print(
        table(
            ["step", "seconds", "share"],
            [
                [step, fmt(seconds), f"{r['recover_step_shares_pct'][step]:.0f}%"]
                for step, seconds in r["recover_steps_s"].items()
            ]
            + [["RTO (recover, fresh host to serving)", fmt(r["rto_s"]), "100%"]],
        )
    )
    print(
        f"backup {fmt(r['backup_s'])} s; RPO of the default schedule: "
        f"{r['rpo_default_schedule_s'] / 3600:.2f} h; all rows back: {r['restored_all_rows']}"
    )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
