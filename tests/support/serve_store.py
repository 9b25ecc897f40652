"""serve's store, opened on SQLite or on the module's real PostgreSQL: the two kinds a
store test runs against (`@pytest.fixture(params=STORE_KINDS)`)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from shipyard.serve.store import Store
from support.postgres import PgServer

STORE_KINDS = ["sqlite", "postgresql"]
_DATABASES = itertools.count()


@contextmanager
def opened_store(request: pytest.FixtureRequest, tmp_path: Path, prefix: str) -> Iterator[Store]:
    """A new, empty store of the kind `request.param` names; PostgreSQL's comes from the
    test module's `pg` fixture, one new database per test."""
    if request.param == "sqlite":
        opened = Store.open(tmp_path / "serve.db")
    else:
        server: PgServer = request.getfixturevalue("pg")
        name = f"{prefix}{next(_DATABASES)}"
        server.createdb(name)
        opened = Store.open(server.url(name))
    try:
        yield opened
    finally:
        opened.close()
