"""Backup and restore of a PostgreSQL database: Shipyard against plain pg_dump/pg_restore.

A real PostgreSQL 15 server is started for the run (initdb in a temporary directory, its
own loopback port; tests/support/postgres.py), one database of about `--mb` MiB is filled
(a table of text rows with an index), and in the same run, against the same database:

- plain_dump_s: `pg_dump -Fc -f FILE` of the database (the baseline: zlib, pg_dump's
  default), and plain_z0_dump_s: `pg_dump -Fc -Z0 -f FILE` (uncompressed, shown side by
  side: Shipyard dumps with -Z0);
- shipyard_backup_s: `shipyard backup run` through the pipeline's API (execute.backup.run:
  host agent, write counters, pg_dump -Fc -Z0, pg_dumpall --globals-only, sha256 of both,
  restic backup into a new local repository, the record in state.db), with
  `backup.local_copy: true` (the dump is also kept on the host);
- one plain restore, not counted (the first restore after the fill is the slowest);
- `--runs` rounds of four restores of that database, each round in a rotated order:
  plain: `pg_restore --clean --if-exists --single-transaction --no-owner -d DB FILE` of
  the plain dump (the flags Shipyard's restore uses);
  plain_z0: the same of the -Z0 dump;
  stream: `shipyard backup restore --yes` with local_copy off (lock, agent, `restic dump`
  piped into the same pg_restore), the default;
  local: the same with local_copy on (the kept dump, fed to the same pg_restore through
  a pipe and hashed on the way against the backup's recorded sha256);
  each with its wall time and the CPU time of the processes it ran (`cpu_s`: pg_restore;
  for Shipyard also the host agent and restic; never the PostgreSQL server's), and for
  Shipyard the host's pieces (`pieces`: lookup, pin, pg_restore...; the backup's too);
- restic_dump_to_null_s: `restic dump` of the snapshot alone, to /dev/null.

ratio = Shipyard / plain of the same round (1.0: no overhead); the medians over the
rounds are what the docs quote. Stores bench/results/backup-rounds-<commit12>-<stamp>.json
(resultfiles.store_result; the machine's CPU model is in `machine.cpu`) and prints Markdown.

    .venv/bin/python bench/backup.py --mb 1024 --runs 7
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import NO_GATES, RecordingReporter, fmt, machine, make_repo, table
from pin import source_root
from resultfiles import store_result

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


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children so far."""
    t = os.times()
    return t.children_user + t.children_system


def shipyard_config(work: Path, pg: PgServer, *, local_copy: bool) -> Path:
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
            "local_copy": local_copy,
        },
        "environments": {"bench": {"hosts": ["local"], "root": str(work / "hosts")}},
    }
    (work / "db-url").write_text(pg.url("bench"))
    (work / "restic-pw").write_text(PASSWORD)
    for secret in ("db-url", "restic-pw"):
        (work / secret).chmod(0o600)
    return make_repo(work / ("repo-local-copy" if local_copy else "repo"), config)


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


def backup_event_pieces(work: Path) -> dict[str, float]:
    """The pieces of the backup (pg_dump, sha256, restic backup...), as its event in the
    host's state.db recorded them."""
    db = sqlite3.connect(work / "hosts" / "reconcile" / "bench" / "state.db")
    try:
        row = db.execute(
            "SELECT detail FROM events WHERE kind = 'backup' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    finally:
        db.close()
    pieces: dict[str, float] = json.loads(row[0]).get("pieces", {}) if row else {}
    return pieces


class Yes(TerminalApprover):
    """The benchmark confirms its own restore (as `--yes` does)."""

    @property
    def interactive(self) -> bool:
        return True

    def confirm(self, question: str) -> bool:
        return True


ORDER = ("plain", "plain_z0", "stream", "local")


def run(mb: int, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sybk-bench-", dir="/tmp") as tmp:
        work = Path(tmp)
        work.chmod(0o755)
        with postgres_server("-c shared_buffers=128MB -c max_wal_size=4GB") as pg:
            data = fill(pg, mb)
            env = pg.env("bench")
            dump = work / "plain.pgdump"
            plain_dump = timed(["pg_dump", "-Fc", "-f", str(dump)], env)
            dump_z0 = work / "plain-z0.pgdump"
            plain_z0_dump = timed(["pg_dump", "-Fc", "-Z0", "-f", str(dump_z0)], env)
            streaming = ConfigFile.load(shipyard_config(work, pg, local_copy=False))
            local = ConfigFile.load(shipyard_config(work, pg, local_copy=True))
            reporter = RecordingReporter()
            started = time.monotonic()
            (record,) = asyncio.run(backup.run(local, "bench", reporter))
            shipyard_backup = round(time.monotonic() - started, 2)
            backup_pieces = backup_event_pieces(work)
            restore_argv = [
                "pg_restore", "--exit-on-error", "--single-transaction", "--no-owner",
                "--clean", "--if-exists", "-d", "bench", str(dump),
            ]  # fmt: skip

            def restore(kind: str) -> dict[str, Any]:
                cpu = children_cpu()
                if kind in ("plain", "plain_z0"):
                    argv = restore_argv if kind == "plain" else [*restore_argv[:-1], str(dump_z0)]
                    seconds = timed(argv, env)
                    return {"s": seconds, "cpu_s": round(children_cpu() - cpu, 2)}
                config = local if kind == "local" else streaming
                started = time.monotonic()
                done = asyncio.run(
                    backup.restore(
                        config, "bench", reporter, record.snapshot_id, source=None,
                        approver=Yes(), yes=True,
                    )
                )  # fmt: skip
                seconds = round(time.monotonic() - started, 2)
                return {
                    "s": seconds, "host_s": done.seconds, "read_from": done.read_from,
                    "cpu_s": round(children_cpu() - cpu, 2), "pieces": done.pieces,
                }  # fmt: skip

            # the first restore after the fill ran far slower than the later ones (the
            # fill's checkpoint and autovacuum): an untimed one first, for every path alike
            warmup = timed(restore_argv, env)
            rounds = []
            for i in range(runs):
                order = ORDER[i % len(ORDER) :] + ORDER[: i % len(ORDER)]
                one: dict[str, Any] = {"order": list(order), "loadavg": os.getloadavg()[0]}
                for kind in order:
                    one[kind] = restore(kind)
                    rows = int(pg.psql("bench", "SELECT count(*) FROM orders"))
                    one[kind]["all_rows"] = rows == data["rows"]
                one["stream_ratio"] = round(one["stream"]["s"] / one["plain"]["s"], 3)
                one["local_ratio"] = round(one["local"]["s"] / one["plain"]["s"], 3)
                one["plain_z0_ratio"] = round(one["plain_z0"]["s"] / one["plain"]["s"], 3)
                rounds.append(one)
                print(
                    f"round {i + 1}/{runs}: plain {one['plain']['s']} s, plain -Z0 "
                    f"{one['plain_z0']['s']} s ({one['plain_z0_ratio']}), stream "
                    f"{one['stream']['s']} s ({one['stream_ratio']}), local "
                    f"{one['local']['s']} s ({one['local_ratio']}); load {one['loadavg']:.2f}",
                    flush=True,
                )
            restic_read = restic_dump_seconds(work, record.snapshot_id)
            dump_bytes, dump_z0_bytes = dump.stat().st_size, dump_z0.stat().st_size

    def median(key: str, field: str = "s") -> float:
        return round(statistics.median(r[key][field] for r in rounds), 3)

    return {
        **data,
        "dump_bytes": dump_bytes,  # the plain -Fc dump
        "plain_z0_dump_bytes": dump_z0_bytes,
        "shipyard_dump_bytes": record.size_bytes,
        "restic_added_bytes": record.added_bytes,
        "plain_dump_s": plain_dump,
        "plain_z0_dump_s": plain_z0_dump,
        "plain_z0_dump_ratio": round(plain_z0_dump / plain_dump, 3),
        "shipyard_backup_s": shipyard_backup,
        "shipyard_backup_host_s": record.duration,
        "shipyard_backup_pieces": backup_pieces,
        "backup_ratio": round(shipyard_backup / plain_dump, 3),
        "warmup_plain_restore_s": warmup,
        "rounds": rounds,
        "median_plain_restore_s": median("plain"),
        "median_stream_restore_s": median("stream"),
        "median_local_restore_s": median("local"),
        "median_plain_z0_restore_s": median("plain_z0"),
        "median_plain_z0_ratio": round(statistics.median(r["plain_z0_ratio"] for r in rounds), 3),
        "median_cpu_s": {kind: median(kind, "cpu_s") for kind in ORDER},
        "median_stream_ratio": round(statistics.median(r["stream_ratio"] for r in rounds), 3),
        "median_local_ratio": round(statistics.median(r["local_ratio"] for r in rounds), 3),
        "local_read_from": sorted({r["local"]["read_from"] for r in rounds}),
        "stream_read_from": sorted({r["stream"]["read_from"] for r in rounds}),
        "restic_dump_to_null_s": restic_read,
        "restored_all_rows": all(r[k]["all_rows"] for r in rounds for k in ORDER),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024, help="database size to aim for (MiB)")
    parser.add_argument("--runs", type=int, default=7, help="rounds of the three restores")
    args = parser.parse_args()
    started = time.time()
    result = {
        "machine": machine(),
        "target_mb": args.mb,
        "runs": args.runs,
        "result": run(args.mb, args.runs),
        "wall_s": round(time.time() - started, 1),
    }
    out = store_result("backup", result, variant="rounds")
    r = result["result"]
    print(
        f"database {r['database_bytes'] / 2**20:.0f} MiB, {r['rows']} rows; dump "
        f"{r['dump_bytes'] / 2**20:.0f} MiB; CPU {result['machine']['cpu']}"
    )
    print(
        table(
            ["", "plain", "Shipyard", "ratio"],
            [
                ["backup (s)", fmt(r["plain_dump_s"]), fmt(r["shipyard_backup_s"]),
                 fmt(r["backup_ratio"], 3)],
                [f"restore, streamed from restic (median s of {args.runs})",
                 fmt(r["median_plain_restore_s"]), fmt(r["median_stream_restore_s"]),
                 fmt(r["median_stream_ratio"], 3)],
                [f"restore, local_copy (median s of {args.runs})",
                 fmt(r["median_plain_restore_s"]), fmt(r["median_local_restore_s"]),
                 fmt(r["median_local_ratio"], 3)],
                ["plain -Z0: dump (s)", fmt(r["plain_dump_s"]), fmt(r["plain_z0_dump_s"]),
                 fmt(r["plain_z0_dump_ratio"], 3)],
                [f"plain -Z0: restore (median s of {args.runs})",
                 fmt(r["median_plain_restore_s"]), fmt(r["median_plain_z0_restore_s"]),
                 fmt(r["median_plain_z0_ratio"], 3)],
            ],
        )
    )  # fmt: skip
    print(f"restic dump alone (to /dev/null): {fmt(r['restic_dump_to_null_s'])} s")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
