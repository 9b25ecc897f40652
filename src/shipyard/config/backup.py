"""What `backup:` in shipyard.yml may say: sources, the restic repository, retention,
the checks a verify runs, and how old the newest backup may be.

Every secret is named, never written: `secret`, `password_secret` and the S3 key names
are keys of the environment's `secrets:`, whose values the operator resolves.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shipyard.config.backup_schedule import BackupSchedule

SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def _under_shared(value: str) -> str:
    path = PurePosixPath(value)
    if not value or path.is_absolute() or ".." in path.parts:
        raise ValueError(f"{value!r} must be a relative path inside shared/")
    return value


class _Source(_Strict):
    name: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not SOURCE_NAME.match(value):
            raise ValueError("use up to 40 lowercase letters, digits, '-' or '_'")
        return value


class PostgresSource(_Source):
    """A PostgreSQL database: `pg_dump -Fc` plus `pg_dumpall --globals-only`.

    `secret` names the secret holding its libpq URL (postgresql://user:pw@host:port/db).
    """

    type: Literal["postgres"]
    secret: str


class SqliteSource(_Source):
    """A SQLite file under shared/, copied with SQLite's online backup API."""

    type: Literal["sqlite"]
    path: str

    @field_validator("path")
    @classmethod
    def _inside(cls, value: str) -> str:
        return _under_shared(value)


class DirectorySource(_Source):
    """A directory under shared/ (uploads), stored as it is."""

    type: Literal["directory"]
    path: str

    @field_validator("path")
    @classmethod
    def _inside(cls, value: str) -> str:
        return _under_shared(value)


Source = Annotated[PostgresSource | SqliteSource | DirectorySource, Field(discriminator="type")]


class Retention(_Strict):
    """restic's `forget` policy, per source; 0 turns a rule off."""

    keep_last: int = Field(default=7, ge=0, le=10000)
    keep_daily: int = Field(default=7, ge=0, le=10000)
    keep_weekly: int = Field(default=4, ge=0, le=10000)
    keep_monthly: int = Field(default=6, ge=0, le=10000)

    @model_validator(mode="after")
    def _keeps_something(self) -> Retention:
        if not any((self.keep_last, self.keep_daily, self.keep_weekly, self.keep_monthly)):
            raise ValueError("keep at least one snapshot (every keep_* is 0)")
        return self


class SqlCheck(_Strict):
    """A query run against the restored copy; its first column of the first row, as
    text, must equal `expect`."""

    source: str
    sql: str
    expect: str


class FileCountCheck(_Strict):
    """At least `min_files` files in the restored copy (under `path` in it)."""

    source: str
    min_files: int = Field(ge=0)
    path: str = "."

    @field_validator("path")
    @classmethod
    def _inside(cls, value: str) -> str:
        return value if value == "." else _under_shared(value)


class S3Credentials(_Strict):
    """Names of the secrets with the S3 key pair (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)."""

    access_key_id_secret: str
    secret_access_key_secret: str
    region: str | None = None


class Backup(_Strict):
    """Backups of this environment's data, stored through restic on the primary host.

    repository: a path on the primary (default `<root>/<app>/<env>/backups/restic`) or
    an `s3:` URL (`s3:https://fra1.digitaloceanspaces.com/bucket/prefix`) with `s3`.
    max_age: seconds; `status` warns (and `status --check` fails) when a source's newest
    backup is older.
    local_copy: keep the newest dump of each PostgreSQL source on the primary as well
    (one more dump's worth of disk, unencrypted, 0600), so that restoring that snapshot
    reads it from local disk instead of out of restic.
    """

    sources: list[Source] = Field(min_length=1)
    repository: str | None = None
    s3: S3Credentials | None = None
    password_secret: str
    retention: Retention = Retention.model_construct()
    checks: list[SqlCheck | FileCountCheck] = Field(default_factory=list)
    max_age: float = Field(default=26 * 3600, gt=0, le=90 * 86400)
    timeout: float = Field(default=3600.0, gt=0, le=7 * 86400)
    before_migrations: bool = True
    local_copy: bool = False
    schedule: BackupSchedule = BackupSchedule.model_construct()

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if value.startswith("s3:"):
            if not re.match(r"^s3:https?://[^/]+/[^/]+", value):
                raise ValueError("write an S3 repository as s3:https://ENDPOINT/BUCKET[/PREFIX]")
            return value
        if ":" in value.split("/")[0]:
            raise ValueError("only local paths and s3: repositories are supported")
        if not value.startswith("/"):
            raise ValueError("a local repository must be an absolute path on the host")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Backup:
        names = [source.name for source in self.sources]
        if len(set(names)) != len(names):
            raise ValueError("sources: two sources have the same name")
        kinds = {source.name: source.type for source in self.sources}
        for check in self.checks:
            if check.source not in kinds:
                raise ValueError(f"checks: no source named {check.source!r}")
            if isinstance(check, SqlCheck) and kinds[check.source] == "directory":
                raise ValueError(f"checks: {check.source} is a directory; use min_files")
        is_s3 = bool(self.repository and self.repository.startswith("s3:"))
        if is_s3 and self.s3 is None:
            raise ValueError(
                "an s3: repository needs `s3:` with access_key_id_secret and "
                "secret_access_key_secret"
            )
        if self.s3 is not None and not is_s3:
            raise ValueError("s3 credentials given, but the repository is not s3:")
        return self

    def secret_names(self) -> list[str]:
        """Every secret this configuration refers to."""
        names = [self.password_secret]
        names += [s.secret for s in self.sources if isinstance(s, PostgresSource)]
        if self.s3:
            names += [self.s3.access_key_id_secret, self.s3.secret_access_key_secret]
        return names

    def database_sources(self) -> list[str]:
        """The sources a migration can change: databases, not directories."""
        return [s.name for s in self.sources if s.type in ("postgres", "sqlite")]


def backup_secrets_known(backup: Backup | None, secrets: object) -> Backup | None:
    """Every secret `backup:` names is one of the environment's `secrets:`."""
    known = set(secrets) if isinstance(secrets, dict) else set()
    if backup is not None:
        missing = [name for name in backup.secret_names() if name not in known]
        if missing:
            raise ValueError(
                f"names secret {missing[0]}, which is not in secrets: "
                f"add `secrets: {{{missing[0]}: {{from_env: ...}}}}`"
            )
    return backup
