"""PostgreSQL's own tools for one source: dump, restore, scratch databases, queries and
write counters. The connection is libpq's environment (PGHOST, PGPASSWORD...), never
an argument."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

from shipyard.host import checked_feed
from shipyard.host.errors import HostOpError
from shipyard.plan.pg_env import libpq_env

DUMP = "db.pgdump"  # pg_dump -Fc -Z0 (or -Fc into a repository that does not compress)
# Uncompressed: restic compresses (zstd, repository version 2) what it stores, in
# parallel and far faster than pg_dump's single-threaded zlib, and a restore then has no
# zlib to undo. Dumps of older backups (compressed) restore the same way.
UNCOMPRESSED = "-Z0"
GLOBALS = "globals.sql"  # pg_dumpall --globals-only
ERROR_LINES = 20

STATS_SQL = (
    "SELECT 'db', xact_commit, tup_inserted + tup_updated + tup_deleted "
    "FROM pg_stat_database WHERE datname = current_database() "
    "UNION ALL SELECT schemaname || '.' || relname, 0, n_tup_ins + n_tup_upd + n_tup_del "
    "FROM pg_stat_user_tables"
)


class Postgres:
    def __init__(self, source: str, url: str, timeout: float) -> None:
        self.source = source
        self.timeout = timeout
        try:
            self.conn = libpq_env(url)
        except ValueError as exc:
            raise HostOpError(f"backup source {source}: {exc}") from None
        self.database = self.conn["PGDATABASE"]

    def env(self, database: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        return env | self.conn | ({"PGDATABASE": database} if database else {})

    def run(
        self,
        argv: list[str],
        *,
        database: str | None = None,
        what: str,
        stdin: IO[bytes] | None = None,
    ) -> str:
        try:
            result = subprocess.run(
                argv,
                stdin=stdin,
                env=self.env(database),
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError:
            raise HostOpError(
                f"{argv[0]} is not installed on this host",
                hint="install the PostgreSQL client tools (Debian: postgresql-client-15)",
            ) from None
        except subprocess.TimeoutExpired:
            raise HostOpError(
                f"{what} of {self.source} timed out after {self.timeout:g}s",
                hint="raise backup.timeout",
            ) from None
        if result.returncode != 0:
            raise self.failed(what, result.stderr)
        return result.stdout

    def failed(self, what: str, stderr: str) -> HostOpError:
        lines = [line for line in stderr.splitlines() if line.strip()]
        return HostOpError(
            f"{what} of {self.source} failed: " + (lines[-1] if lines else "no message"),
            hint="check the source's connection secret and the role's privileges",
            log_tail=lines[-ERROR_LINES:],
        )

    def dump(self, directory: Path, *, compress: bool = False) -> None:
        """The database in custom format (uncompressed unless `compress`: pg_dump's
        default zlib), and the cluster's roles and tablespaces."""
        dump = [
            "pg_dump",
            "-Fc",
            *([] if compress else [UNCOMPRESSED]),
            "-f",
            str(directory / DUMP),
        ]
        self.run(dump, what="pg_dump")
        globals_file = str(directory / GLOBALS)
        try:
            self.run(["pg_dumpall", "--globals-only", "-f", globals_file], what="pg_dumpall")
        except HostOpError:
            # a role that may not read pg_authid still gets the roles, without passwords
            self.run(
                ["pg_dumpall", "--globals-only", "--no-role-passwords", "-f", globals_file],
                what="pg_dumpall --globals-only",
            )

    def restore(
        self,
        directory: Path | None,
        database: str | None = None,
        *,
        clean: bool,
        stdin: IO[bytes] | None = None,
    ) -> None:
        """pg_restore the dump (in `directory`, or read from `stdin`) into `database`
        (default: the source's own), in one transaction; `clean` drops the dump's
        objects first (a restore into the live one)."""
        argv = self._restore_argv(database, clean=clean)
        if directory is not None:
            argv.append(str(directory / DUMP))
        self.run(argv, database=database, what="pg_restore", stdin=stdin)

    def restore_checked(self, dump: Path, expected_sha256: str) -> bool:
        """pg_restore --clean of `dump` into the source's database, fed through a pipe
        and hashed on the way: pg_restore gets the last block (and so can finish and
        commit) only if the file's sha256 is `expected_sha256`. When it is not: False,
        and pg_restore is killed first (its one transaction rolls back: nothing changed)."""
        with tempfile.TemporaryFile() as errors:
            try:
                process = subprocess.Popen(
                    self._restore_argv(None, clean=True),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=errors,
                    env=self.env(),
                )
            except FileNotFoundError:
                raise HostOpError(
                    "pg_restore is not installed on this host",
                    hint="install the PostgreSQL client tools (Debian: postgresql-client-15)",
                ) from None
            assert process.stdin is not None
            expired = threading.Event()

            def expire() -> None:
                expired.set()
                process.kill()

            watchdog = threading.Timer(self.timeout, expire)
            watchdog.start()
            matched = False
            try:
                matched = checked_feed.feed(dump, process.stdin.fileno(), expected_sha256)
            except BrokenPipeError:
                matched = True  # pg_restore stopped reading: its exit code says why
            finally:
                if not matched:
                    process.kill()  # a mismatch (or our own failure): it must not commit
                with contextlib.suppress(BrokenPipeError):
                    process.stdin.close()
                code = process.wait()
                watchdog.cancel()
            if expired.is_set():
                raise HostOpError(
                    f"pg_restore of {self.source} timed out after {self.timeout:g}s",
                    hint="raise backup.timeout",
                )
            if not matched:
                return False
            if code != 0:
                errors.seek(0)
                raise self.failed("pg_restore", errors.read().decode(errors="replace"))
        return True

    def _restore_argv(self, database: str | None, *, clean: bool) -> list[str]:
        argv = ["pg_restore", "--exit-on-error", "--single-transaction", "--no-owner"]
        if clean:
            argv += ["--clean", "--if-exists"]
        return [*argv, "-d", database or self.database]

    def query(self, sql: str, database: str | None = None) -> str:
        """The first value of the first row, as text ('' for none)."""
        out = self.run(
            ["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            database=database,
            what="a check query",
        )
        return out.splitlines()[0].strip() if out.strip() else ""

    def create_scratch(self) -> str:
        name = f"shipyard_verify_{int(time.time())}_{os.getpid()}"
        self.run(["createdb", name], what="createdb (a scratch database for verify)")
        return name

    def drop(self, name: str) -> None:
        self.run(["dropdb", "--if-exists", name], what="dropdb")

    def stats(self) -> dict[str, Any]:
        """The write counters now: committed transactions, rows written, per table."""
        out = self.run(["psql", "-X", "-A", "-t", "-F", "\t", "-c", STATS_SQL], what="stats")
        database: dict[str, int] = {}
        tables: dict[str, int] = {}
        for line in out.splitlines():
            name, commits, rows = line.split("\t")
            if name == "db":
                database = {"xact_commit": int(commits), "rows_written": int(rows)}
            else:
                tables[name] = int(rows)
        return {"database": database, "tables": tables, "at": time.time()}
