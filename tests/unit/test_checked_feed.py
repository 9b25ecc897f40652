"""A file fed into a pipe while it is hashed: the reader gets its last block only when
the file's sha256 is the expected one."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from shipyard.host import checked_feed


def _fed(path: Path, expected: str) -> tuple[bool, bytes]:
    read_end, write_end = os.pipe()
    received: list[bytes] = []

    def drain() -> None:
        with os.fdopen(read_end, "rb") as reader:
            received.append(reader.read())

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        ok = checked_feed.feed(path, write_end, expected)
    finally:
        os.close(write_end)
        reader.join()
    return ok, received[0]


def test_a_file_whose_sha256_is_the_expected_one_is_fed_whole(tmp_path: Path) -> None:
    data = os.urandom(3 * checked_feed.BLOCK + 12345)
    path = tmp_path / "dump"
    path.write_bytes(data)
    assert _fed(path, hashlib.sha256(data).hexdigest().upper()) == (True, data)


def test_a_file_with_another_sha256_is_fed_without_its_last_block(tmp_path: Path) -> None:
    data = os.urandom(3 * checked_feed.BLOCK + 12345)
    path = tmp_path / "dump"
    path.write_bytes(data)
    ok, received = _fed(path, "00" * 32)
    assert not ok
    assert received == data[: 3 * checked_feed.BLOCK]


def test_a_file_smaller_than_a_block_is_not_fed_at_all_unless_it_matches(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dump"
    path.write_bytes(b"a small dump")
    assert _fed(path, "00" * 32) == (False, b"")
    assert _fed(path, hashlib.sha256(b"a small dump").hexdigest()) == (True, b"a small dump")
