"""The pieces of a host operation: each named piece's time is recorded, added up when a
piece runs more than once, and recorded too when it fails."""

from __future__ import annotations

import pytest

from shipyard.host.pieces import Pieces


def test_each_piece_is_recorded_under_its_name_and_repeats_add_up() -> None:
    pieces = Pieces()
    with pieces.timed("pg_dump"):
        pass
    first = pieces.seconds["pg_dump"]
    with pieces.timed("pg_dump"):
        pass
    with pieces.timed("restic backup"):
        pass
    assert list(pieces.seconds) == ["pg_dump", "restic backup"]
    assert pieces.seconds["pg_dump"] >= first >= 0


def test_a_piece_that_fails_is_recorded_too() -> None:
    pieces = Pieces()
    with pytest.raises(RuntimeError), pieces.timed("pg_restore"):
        raise RuntimeError("failed")
    assert "pg_restore" in pieces.seconds
