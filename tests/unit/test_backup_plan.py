"""Backups, decided: restic's retention flags, which sources are overdue, what was
written since a backup, libpq's variables, the backup requests, and `backup:` config."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.records import backup_record as record

from shipyard.config.backup import Backup, Retention
from shipyard.config.errors import ConfigError
from shipyard.config.loader import ConfigFile
from shipyard.plan import backup as plan
from shipyard.plan.pg_env import libpq_env

# retention ---------------------------------------------------------------------


def test_retention_becomes_restic_keep_flags_leaving_out_rules_set_to_zero() -> None:
    retention = Retention(keep_last=3, keep_daily=0, keep_weekly=2, keep_monthly=0)
    assert plan.forget_flags(retention) == ["--keep-last", "3", "--keep-weekly", "2"]


def test_the_default_retention_keeps_last_daily_weekly_and_monthly() -> None:
    assert plan.forget_flags(Retention()) == [
        "--keep-last", "7", "--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "6",
    ]  # fmt: skip


def test_a_retention_that_keeps_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="keep at least one"):
        Retention(keep_last=0, keep_daily=0, keep_weekly=0, keep_monthly=0)


# staleness ----------------------------------------------------------------------


def test_a_source_never_backed_up_is_overdue() -> None:
    (db,) = plan.freshness([], ["db"], max_age=3600, now=10_000)
    assert db.stale and db.last_at is None
    assert db.describe() == "db: never backed up"


def test_the_newest_backup_of_each_source_decides_whether_it_is_overdue() -> None:
    records = [
        record("db", 1_000, "old00000"),
        record("db", 9_000, "new00000", verify_ok=True),
        record("files", 2_000, "files000"),
    ]
    db, files = plan.freshness(records, ["db", "files"], max_age=3600, now=10_000)
    assert (db.last_snapshot, db.stale, db.verified) == ("new00000", False, True)
    assert (files.last_snapshot, files.stale) == ("files000", True)
    assert "never verified" in files.describe()


def test_a_backup_exactly_max_age_old_is_still_within_it() -> None:
    (db,) = plan.freshness([record("db", 6_400)], ["db"], max_age=3600, now=10_000)
    assert not db.stale


# written since --------------------------------------------------------------------


def test_written_since_is_the_difference_of_the_counters_per_table() -> None:
    before = {
        "database": {"xact_commit": 10, "rows_written": 100},
        "tables": {"public.t": 100, "public.u": 7},
    }
    now = {
        "database": {"xact_commit": 14, "rows_written": 112},
        "tables": {"public.t": 105, "public.u": 7, "public.new": 7},
    }
    written = plan.written_since(before, now)
    assert (written.transactions, written.rows) == (4, 12)
    assert written.tables == {"public.t": 5, "public.new": 7}
    assert written.describe() == "12 rows written in 4 transactions (public.new 7, public.t 5)"


def test_counters_that_went_down_mean_the_statistics_were_reset_and_nothing_is_claimed() -> None:
    before = {"database": {"xact_commit": 50, "rows_written": 500}, "tables": {}}
    now = {"database": {"xact_commit": 3, "rows_written": 1}, "tables": {}}
    written = plan.written_since(before, now)
    assert written.rows is None
    assert "unknown" in written.describe()


def test_no_rows_written_says_so() -> None:
    same = {"database": {"xact_commit": 5, "rows_written": 9}, "tables": {"public.t": 9}}
    assert plan.written_since(same, same).describe().startswith("no rows written")


# libpq ------------------------------------------------------------------------------


def test_a_postgres_url_becomes_libpq_variables_with_the_password_decoded() -> None:
    env = libpq_env("postgresql://app:p%40ss@db.internal:5433/shop?sslmode=require")
    assert env == {
        "PGHOST": "db.internal",
        "PGPORT": "5433",
        "PGUSER": "app",
        "PGPASSWORD": "p@ss",
        "PGDATABASE": "shop",
        "PGSSLMODE": "require",
    }


def test_a_postgres_url_may_name_a_socket_directory() -> None:
    assert libpq_env("postgresql:///shop?host=/run/postgresql")["PGHOST"] == "/run/postgresql"


@pytest.mark.parametrize("url", ["mysql://x@h/db", "postgresql://u@h:5432/"])
def test_a_url_that_is_not_postgres_or_names_no_database_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        libpq_env(url)


# requests ---------------------------------------------------------------------------

BACKUP = {
    "password_secret": "RESTIC_PASSWORD",
    "repository": "s3:https://fra1.digitaloceanspaces.com/bucket/app",
    "s3": {"access_key_id_secret": "S3_KEY", "secret_access_key_secret": "S3_SECRET"},
    "sources": [
        {"name": "db", "type": "postgres", "secret": "DATABASE_URL"},
        {"name": "uploads", "type": "directory", "path": "uploads"},
    ],
}
SECRETS = {
    "RESTIC_PASSWORD": "pw",
    "S3_KEY": "key",
    "S3_SECRET": "secret",
    "DATABASE_URL": "postgresql://u:p@h/db",
}


def test_the_repository_carries_its_password_and_s3_keys_as_environment_not_url() -> None:
    spec = plan.repository(Backup.model_validate(BACKUP), SECRETS)
    assert spec.url == "s3:https://fra1.digitaloceanspaces.com/bucket/app"
    assert spec.password == "pw"
    assert spec.env_values == {"AWS_ACCESS_KEY_ID": "key", "AWS_SECRET_ACCESS_KEY": "secret"}


def test_sources_carry_their_connection_and_an_unknown_name_is_refused() -> None:
    backup = Backup.model_validate(BACKUP)
    db, uploads = plan.sources(backup, SECRETS)
    assert (db.kind, db.url, db.path) == ("postgres", "postgresql://u:p@h/db", None)
    assert (uploads.kind, uploads.url, uploads.path) == ("directory", None, "uploads")
    assert [s.name for s in plan.sources(backup, SECRETS, ["uploads"])] == ["uploads"]
    with pytest.raises(ValueError, match="no backup source named 'nope'"):
        plan.sources(backup, SECRETS, ["nope"])


def test_local_copy_is_off_by_default_and_applies_to_postgres_sources_only() -> None:
    db, uploads = plan.sources(Backup.model_validate(BACKUP), SECRETS)
    assert not db.local_copy and not uploads.local_copy
    db, uploads = plan.sources(Backup.model_validate(BACKUP | {"local_copy": True}), SECRETS)
    assert db.local_copy and not uploads.local_copy


def test_only_databases_are_backed_up_before_a_migration() -> None:
    assert Backup.model_validate(BACKUP).database_sources() == ["db"]


# configuration ----------------------------------------------------------------------

CONFIG = """\
app: reconcile
start: python3 app.py
secrets:
  DATABASE_URL: {from_env: DB_URL}
  RESTIC_PASSWORD: {from_env: RESTIC_PW}
environments:
  production:
    hosts: [local]
    backup:
%s
"""


def load_backup(tmp_path: Path, body: str) -> Backup | None:
    path = tmp_path / "shipyard.yml"
    indented = "\n".join("      " + line for line in body.strip().splitlines())
    path.write_text(CONFIG % indented)
    return ConfigFile.load(path).environment("production").backup


def test_a_backup_section_loads_with_every_default(tmp_path: Path) -> None:
    backup = load_backup(
        tmp_path,
        """
password_secret: RESTIC_PASSWORD
sources:
  - {name: db, type: postgres, secret: DATABASE_URL}
""",
    )
    assert backup is not None
    assert backup.repository is None and backup.max_age == 26 * 3600
    assert backup.before_migrations and backup.retention == Retention()


@pytest.mark.parametrize(
    ("body", "key", "message"),
    [
        (
            "password_secret: NOPE\nsources: [{name: db, type: postgres, secret: DATABASE_URL}]",
            "environments.production.backup",
            "names secret NOPE, which is not in secrets",
        ),
        (
            "password_secret: RESTIC_PASSWORD\nsources: [{name: f, type: sqlite, path: ../x}]",
            "environments.production.backup.sources.0.path",
            "must be a relative path inside shared/",
        ),
        (
            "password_secret: RESTIC_PASSWORD\nrepository: s3:https://h/b\n"
            "sources: [{name: u, type: directory, path: u}]",
            "environments.production.backup",
            "an s3: repository needs `s3:`",
        ),
        (
            "password_secret: RESTIC_PASSWORD\nsources: [{name: u, type: directory, path: u}]\n"
            "checks: [{source: db, sql: 'select 1', expect: '1'}]",
            "environments.production.backup",
            "no source named 'db'",
        ),
        (
            "password_secret: RESTIC_PASSWORD\nrepository: relative/path\n"
            "sources: [{name: u, type: directory, path: u}]",
            "environments.production.backup.repository",
            "absolute path",
        ),
    ],
)
def test_a_wrong_backup_section_is_an_error_at_its_key_and_line(
    tmp_path: Path, body: str, key: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_backup(tmp_path, body)
    error = caught.value
    assert error.key_path == key
    assert message in error.message
    assert error.line is not None and error.line >= 8
