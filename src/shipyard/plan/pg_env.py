"""A PostgreSQL URL as libpq's environment variables. Pure; used on the host (so it
imports nothing of the configuration)."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit


def libpq_env(url: str) -> dict[str, str]:
    """A postgresql:// URL as libpq's variables (PGHOST, PGPASSWORD...), so that no
    password is ever part of a command line."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError("a PostgreSQL source's secret must be a postgresql:// URL")
    env: dict[str, str] = {}
    if parts.hostname:
        env["PGHOST"] = unquote(parts.hostname)
    if parts.port:
        env["PGPORT"] = str(parts.port)
    if parts.username:
        env["PGUSER"] = unquote(parts.username)
    if parts.password:
        env["PGPASSWORD"] = unquote(parts.password)
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise ValueError("a PostgreSQL source's URL must name the database (…/DBNAME)")
    env["PGDATABASE"] = database
    for item in filter(None, parts.query.split("&")):
        key, _, value = item.partition("=")
        if key == "sslmode":
            env["PGSSLMODE"] = value
        elif key == "host":  # postgresql:///db?host=/run/postgresql (a socket directory)
            env["PGHOST"] = unquote(value)
    return env
