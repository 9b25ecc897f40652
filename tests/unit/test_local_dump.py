"""Which dump a PostgreSQL restore reads: the host's local copy only when its sha256 is the
one recorded when the snapshot was taken; anything else streams from restic."""

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


def test_a_snapshot_without_a_recorded_sha256_of_its_dump_is_read_from_restic() -> None:
    choice = plan.choose(True, None, _copy(SHA))
    assert not choice.local and "no sha256" in choice.why


def test_the_backups_own_record_gives_the_sha256_before_the_snapshots_tag() -> None:
    tags = {plan.TAG: "cd" * 32}
    assert plan.recorded_sha256({DUMP: SHA}, tags, DUMP) == SHA
    assert plan.recorded_sha256(None, tags, DUMP) == "cd" * 32
    assert plan.recorded_sha256({}, tags, DUMP) is None  # a record without it: not the tag
    assert plan.recorded_sha256(None, {}, DUMP) is None


def test_no_local_copy_reads_restic() -> None:
    choice = plan.choose(True, SHA, plan.ABSENT)
    assert not choice.local and choice.why == "no local copy of the dump on this host"


def test_a_local_copy_that_could_not_be_read_reads_restic_and_says_why() -> None:
    choice = plan.choose(True, SHA, plan.LocalCopy(present=True, error="Permission denied"))
    assert not choice.local
    assert choice.why == "the local copy could not be read: Permission denied"


def test_the_local_copy_is_tried_when_it_was_kept_with_the_snapshots_sha256() -> None:
    assert plan.choose(True, SHA, _copy(SHA)) == plan.MATCH
    assert plan.choose(True, SHA, _copy(SHA.upper())).local
    assert plan.choose(True, SHA, plan.LocalCopy(present=True)).local  # no note: checked
    assert plan.MATCH.read_from == "local copy"


def test_a_local_copy_kept_with_another_sha256_is_not_read_at_all() -> None:
    other = plan.choose(True, SHA, _copy("cd" * 32))
    assert other == plan.OTHER
    assert not other.local and other.read_from == "restic"
    assert other.why == "the local copy is of another backup"


def test_a_copy_whose_hash_as_read_was_not_the_recorded_one_is_replaced_by_restic() -> None:
    assert plan.checked(True) == plan.MATCH
    assert plan.checked(False) == plan.MISMATCH
    assert "not the snapshot's" in plan.MISMATCH.why and not plan.MISMATCH.local


# the host's side, on real files ------------------------------------------------------


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(tmp_path / "root", "reconcile", "production")


def _kept(layout: Layout, tmp_path: Path, content: bytes) -> tuple[Path, str]:
    fresh_dump = tmp_path / "fresh.pgdump"
    fresh_dump.write_bytes(content)
    layout.backups.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256(content).hexdigest()
    return local_dump.keep(layout, "db", fresh_dump, sha), sha


def test_a_kept_copy_is_0600_in_a_0700_directory_and_replaces_the_old_one(
    layout: Layout, tmp_path: Path
) -> None:
    old, _ = _kept(layout, tmp_path, b"first dump")
    kept, _ = _kept(layout, tmp_path, b"second dump")
    assert kept == old == layout.backup_local_copy("db") / DUMP
    assert kept.read_bytes() == b"second dump"
    assert kept.stat().st_mode & 0o777 == 0o600
    assert kept.parent.stat().st_mode & 0o777 == 0o700


def test_a_copy_is_pinned_into_scratch_as_a_hard_link_with_the_sha256_it_was_kept_with(
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


def test_a_copy_of_a_newer_backup_is_not_read_for_an_older_snapshot(
    layout: Layout, tmp_path: Path
) -> None:
    _, older = _kept(layout, tmp_path, b"the dump")
    _kept(layout, tmp_path, b"a newer dump")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert plan.choose(True, older, local_dump.pin(layout, "db", scratch)) == plan.OTHER


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
