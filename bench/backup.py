"""Backup and restore of a PostgreSQL database: Shipyard against plain pg_dump/pg_restore.

A real PostgreSQL 15 server is started for the run (initdb in a temporary directory, its
own loopback port; tests/support/postgres.py), one database of about `--mb` MiB is filled
(a table of text rows with an index), and in the same run, one after the other:

- plain_dump_s: `pg_dump -Fc -f FILE` of the database;
- shipyard_backup_s: `shipyard backup run` through the pipeline's API (execute.backup.run:
  host agent, write counters, pg_dump -Fc, pg_dumpall --globals-only, sha256 of both,
  restic backup into a new local repository, the record in state.db);
- plain_restore_s: `pg_restore --clean --if-exists --single-transaction --no-owner -d DB`
  of the plain dump (the flags Shipyard's restore uses);
- plain_restore_from_pipe_s: the same pg_restore reading the dump from a pipe (`cat |`);
- shipyard_restore_s: `shipyard backup restore --yes` (lock, agent, `restic dump` piped
  into the same pg_restore); shipyard_restore_host_s: the host's part of it;
- restic_dump_to_null_s: `restic dump` of the snapshot alone, to /dev/null.

ratio = Shipyard / plain (1.0: no overhead). Writes a NEW file
bench/results/backup-<commit12>-<UTCstamp>.json and prints Markdown.

    .venv/bin/python bench/backup.py --mb 1024
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

from benchlib import NO_GATES, RecordingReporter, fmt, machine, make_repo, table
from pin import source_label, source_root

from shipyard.cli.options import TerminalApprover
from shipyard.config.loader import ConfigFile
from shipyard.execute import backup

sys.path.insert(0, str(source_root() / "tests"))
from support.postgres import PgServer, postgres_server

RESULTS = Path(__file__).resolve().parent / "results"
PASSWORD = "bench-restic-pw"
ROW_BYTES = 1000  # payload per row; with tuple overhead and the index ~1.1 KiB per row
# random hex text: compresses about 2:1 in pg_dump, like much real text does
NOTE = " || ".join(["md5(random()::text)"] * (ROW_BYTES // 32 + 1))


def fill(pg: PgServer, mb: int) -> dict[str, Any]:
    pg.createdb("bench")
    rows = mb * 1024 * 1024 // (ROW_BYTES + 100)
    started = time.monotonic()
    pg.psql(
        "bench",
        "CREATE TABLE orders (id bigint PRIMARY KEY, customer int, amount numeric(12,2), "
        "note text); "
        f"INSERT INTO orders SELECT g, g % 10007, (g % 100000) / 100.0, substr({NOTE}, 1, "
        f"{ROW_BYTES}) FROM generate_series(1, {rows}) g; "
        "CREATE INDEX orders_customer ON orders (customer)",
    )
    pg.psql("bench", "VACUUM ANALYZE orders")
    size = int(pg.psql("bench", "SELECT pg_database_size('bench')"))
    return {"rows": rows, "database_bytes": size, "fill_s": round(time.monotonic() - started, 1)}


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return round(time.monotonic() - started, 2)


def shipyard_config(work: Path, pg: PgServer) -> Path:
    config = {
        "app": "reconcile",
        "start": "python3 app.py",
        "gates": NO_GATES,
        "secrets": {
            "DATABASE_URL": {"from_file": str(work / "db-url")},
            "RESTIC_PASSWORD": {"from_file": str(work / "restic-pw")},
        },
        "backup": {
            "password_secret": "RESTIC_PASSWORD",
            "sources": [{"name": "db", "type": "postgres", "secret": "DATABASE_URL"}],
            "timeout": 3600,
        },
        "environments": {"bench": {"hosts": ["local"], "root": str(work / "hosts")}},
    }
    (work / "db-url").write_text(pg.url("bench"))
    (work / "restic-pw").write_text(PASSWORD)
    for secret in ("db-url", "restic-pw"):
        (work / secret).chmod(0o600)
    repo = make_repo(work / "repo", config)
    return repo


def restic_dump_seconds(work: Path, snapshot_id: str) -> float:
    """How long restic alone takes to read the dump back (to /dev/null): the part of
    Shipyard's restore that plain pg_restore of a local file does not have."""
    env = {
        **os.environ,
        "RESTIC_REPOSITORY": str(work / "hosts" / "reconcile" / "bench" / "backups" / "restic"),
        "RESTIC_PASSWORD": PASSWORD,
    }
    started = time.monotonic()
    with open(os.devnull, "wb") as null:
        subprocess.run(
            ["restic", "dump", snapshot_id, "/db/db.pgdump"], env=env, stdout=null, check=True
        )
    return round(time.monotonic() - started, 2)


class Yes(TerminalApprover):
    """The benchmark confirms its own restore (as `--yes` does)."""

    @property
    def interactive(self) -> bool:
        return True

    def confirm(self, question: str) -> bool:
        return True


def run(mb: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sybk-bench-", dir="/tmp") as tmp:
        work = Path(tmp)
        work.chmod(0o755)
        with postgres_server("-c shared_buffers=128MB -c max_wal_size=4GB") as pg:
            data = fill(pg, mb)
            env = pg.env("bench")
            dump = work / "plain.pgdump"
            plain_dump = timed(["pg_dump", "-Fc", "-f", str(dump)], env)
            config = ConfigFile.load(shipyard_config(work, pg))
            reporter = RecordingReporter()
            started = time.monotonic()
            (record,) = asyncio.run(backup.run(config, "bench", reporter))
            shipyard_backup = round(time.monotonic() - started, 2)
            restore_argv = [
                "pg_restore", "--exit-on-error", "--single-transaction", "--no-owner",
                "--clean", "--if-exists", "-d", "bench", str(dump),
            ]  # fmt: skip
            plain_restore = timed(restore_argv, env)
            # $0 is the dump; "$@" pg_restore's arguments without the file
            piped = ["sh", "-c", 'cat "$0" | "$@"', str(dump), *restore_argv[:-1]]
            plain_pipe = timed(piped, env)
            started = time.monotonic()
            restored = asyncio.run(
                backup.restore(
                    config, "bench", reporter, record.snapshot_id, source=None,
                    approver=Yes(), yes=True,
                )
            )  # fmt: skip
            shipyard_restore = round(time.monotonic() - started, 2)
            rows_after = int(pg.psql("bench", "SELECT count(*) FROM orders"))
            restic_read = restic_dump_seconds(work, record.snapshot_id)
    return {
        **data,
        "dump_bytes": dump.stat().st_size if dump.exists() else record.size_bytes,
        "shipyard_dump_bytes": record.size_bytes,
        "restic_added_bytes": record.added_bytes,
        "plain_dump_s": plain_dump,
        "shipyard_backup_s": shipyard_backup,
        "shipyard_backup_host_s": record.duration,
        "backup_ratio": round(shipyard_backup / plain_dump, 3),
        "plain_restore_s": plain_restore,
        "shipyard_restore_s": shipyard_restore,
        "restore_ratio": round(shipyard_restore / plain_restore, 3),
        "restic_dump_to_null_s": restic_read,
        "plain_restore_from_pipe_s": plain_pipe,
        "shipyard_restore_host_s": restored.seconds,
        "rows_after_restore": rows_after,
        "restored_all_rows": rows_after == data["rows"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024, help="database size to aim for (MiB)")
    args = parser.parse_args()
    started = time.time()
    result = {
        "benchmark": "backup",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "machine": machine(),
        "target_mb": args.mb,
        "result": run(args.mb),
        "wall_s": round(time.time() - started, 1),
    }
    label = source_label().split()[0][:12]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"backup-{label}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime(started))}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    r = result["result"]
    print(
        f"database {r['database_bytes'] / 2**20:.0f} MiB, {r['rows']} rows; dump "
        f"{r['dump_bytes'] / 2**20:.0f} MiB"
    )
    print(
        table(
            ["", "plain", "Shipyard", "ratio"],
            [
                ["backup (s)", fmt(r["plain_dump_s"]), fmt(r["shipyard_backup_s"]),
                 fmt(r["backup_ratio"], 3)],
                ["restore (s)", fmt(r["plain_restore_s"]), fmt(r["shipyard_restore_s"]),
                 fmt(r["restore_ratio"], 3)],
            ],
        )
    )  # fmt: skip
    print(
        f"restic dump alone (to /dev/null): {fmt(r['restic_dump_to_null_s'])} s; plain "
        f"pg_restore from a pipe: {fmt(r['plain_restore_from_pipe_s'])} s; Shipyard's "
        f"restore on the host: {fmt(r['shipyard_restore_host_s'])} s"
    )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
