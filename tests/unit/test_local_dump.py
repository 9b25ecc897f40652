"""Which dump a PostgreSQL restore reads: the host's local copy only when its sha256 is the
one the snapshot was tagged with; anything else streams from restic."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from shipyard.host import local_dump
from shipyard.host.postgres import DUMP
from shipyard.plan import local_dump as plan
from shipyard.plan.layout import Layout

SHA = "ab" * 32


def _copy(sha256: str) -> plan.LocalCopy:
    return plan.LocalCopy(present=True, sha256=sha256)


def test_with_local_copy_off_the_restore_reads_restic_and_says_nothing_more() -> None:
    assert plan.choose(False, SHA, _copy(SHA)) == plan.OFF
    assert plan.OFF.read_from == "restic" and plan.OFF.why == ""


def test_a_snapshot_without_the_dump_tag_is_read_from_restic() -> None:
    choice = plan.choose(True, None, _copy(SHA))
    assert not choice.local and "no sha256" in choice.why


def test_no_local_copy_reads_restic() -> None:
    choice = plan.choose(True, SHA, plan.ABSENT)
    assert not choice.local and choice.why == "no local copy of the dump on this host"


def test_a_local_copy_that_could_not_be_read_reads_restic_and_says_why() -> None:
    choice = plan.choose(True, SHA, plan.LocalCopy(present=True, error="Permission denied"))
    assert not choice.local
    assert choice.why == "the local copy could not be read: Permission denied"


def test_the_local_copy_is_read_only_when_its_sha256_is_the_snapshots() -> None:
    assert plan.choose(True, SHA, _copy(SHA)) == plan.MATCH
    assert plan.choose(True, SHA, _copy(SHA.upper())).local
    assert plan.MATCH.read_from == "local copy"
    other = plan.choose(True, SHA, _copy("cd" * 32))
    assert not other.local and other.read_from == "restic"
    assert "not the snapshot's" in other.why


# the host's side, on real files ------------------------------------------------------


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(tmp_path / "root", "reconcile", "production")


def _kept(layout: Layout, tmp_path: Path, content: bytes) -> tuple[Path, str]:
    fresh_dump = tmp_path / "fresh.pgdump"
    fresh_dump.write_bytes(content)
    layout.backups.mkdir(parents=True, exist_ok=True)
    return local_dump.keep(layout, "db", fresh_dump), hashlib.sha256(content).hexdigest()


def test_a_kept_copy_is_0600_in_a_0700_directory_and_replaces_the_old_one(
    layout: Layout, tmp_path: Path
) -> None:
    old, _ = _kept(layout, tmp_path, b"first dump")
    kept, _ = _kept(layout, tmp_path, b"second dump")
    assert kept == old == layout.backup_local_copy("db") / DUMP
    assert kept.read_bytes() == b"second dump"
    assert kept.stat().st_mode & 0o777 == 0o600
    assert kept.parent.stat().st_mode & 0o777 == 0o700


def test_a_copy_is_pinned_into_scratch_as_a_hard_link_with_its_sha256(
    layout: Layout, tmp_path: Path
) -> None:
    kept, sha = _kept(layout, tmp_path, b"the dump")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert local_dump.pin(layout, "db", scratch) == _copy(sha)
    pinned = scratch / DUMP
    assert pinned.read_bytes() == b"the dump"
    assert os.path.samefile(pinned, kept)  # a hard link, not a copy


def test_a_pinned_copy_keeps_its_bytes_when_a_new_backup_replaces_the_copy(
    layout: Layout, tmp_path: Path
) -> None:
    _, sha = _kept(layout, tmp_path, b"the dump")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert plan.choose(True, sha, local_dump.pin(layout, "db", scratch)).local
    _kept(layout, tmp_path, b"a newer dump")
    assert (scratch / DUMP).read_bytes() == b"the dump"


def test_a_corrupt_local_copy_falls_back_to_restic(layout: Layout, tmp_path: Path) -> None:
    kept, sha = _kept(layout, tmp_path, b"the dump")
    kept.write_bytes(b"the dumq")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert plan.choose(True, sha, local_dump.pin(layout, "db", scratch)) == plan.MISMATCH


def test_a_missing_local_copy_falls_back_to_restic(layout: Layout, tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert local_dump.pin(layout, "db", scratch) == plan.ABSENT
    assert plan.choose(True, SHA, plan.ABSENT) == plan.NO_COPY


def test_dropping_removes_the_copy_and_its_directory(layout: Layout, tmp_path: Path) -> None:
    kept, _ = _kept(layout, tmp_path, b"the dump")
    local_dump.drop(layout, "db")
    assert not kept.parent.exists()
    local_dump.drop(layout, "db")  # nothing there: no error
