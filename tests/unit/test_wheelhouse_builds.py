"""The wheelhouse cache when two `shipyard setup` runs build into it at the same time."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from shipyard.dist import wheel, wheelhouse


def test_two_setups_at_once_build_the_wheel_one_after_the_other_and_each_finds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(wheelhouse.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(wheelhouse, "exact_requirements", lambda: ["bluegreen-shipyard==0.1"])
    monkeypatch.setattr(wheelhouse, "__version__", "0.1.dev0")  # rebuilt on every call
    building = 0
    overlapped: list[int] = []
    lock = threading.Lock()

    def build(dest: Path) -> Path:
        nonlocal building
        with lock:
            building += 1
            overlapped.append(building)
        time.sleep(0.2)  # long enough for the other run to arrive while this one builds
        target = dest / "bluegreen_shipyard-0.1.dev0-py3-none-any.whl"
        target.write_bytes(b"wheel")
        with lock:
            building -= 1
        return target

    monkeypatch.setattr(wheel, "build_own_wheel", build)
    houses: list[wheelhouse.Wheelhouse] = []

    def run() -> None:
        house = wheelhouse.ensure_wheelhouse((3, 11), "x86_64")
        houses.append(house)

    monkeypatch.setattr(wheelhouse, "_download", lambda *args: None)  # no index needed
    wheelhouse.ensure_wheelhouse((3, 11), "x86_64")  # a first run completes the cache
    overlapped.clear()
    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlapped == [1, 1], "the two builds ran at the same time"
    for house in houses:
        assert [p.name for p in house.path.glob("*.whl")] == [
            "bluegreen_shipyard-0.1.dev0-py3-none-any.whl"
        ]


def test_a_setups_archive_holds_its_own_build_when_another_checkout_rebuilds_before_the_upload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two checkouts of one `.dev` version share a wheelhouse directory: the archive one
    setup will upload must keep its bytes whatever the other packs after it."""
    import hashlib

    monkeypatch.setenv(wheelhouse.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(wheelhouse, "exact_requirements", lambda: ["bluegreen-shipyard==0.1"])
    monkeypatch.setattr(wheelhouse, "__version__", "0.1.dev0")
    monkeypatch.setattr(wheelhouse, "_download", lambda *args: None)
    code = {"now": b"checkout A"}

    def build(dest: Path) -> Path:
        target = dest / "bluegreen_shipyard-0.1.dev0-py3-none-any.whl"
        target.write_bytes(code["now"])
        return target

    monkeypatch.setattr(wheel, "build_own_wheel", build)
    first = wheelhouse.ensure_wheelhouse((3, 11), "x86_64")
    code["now"] = b"checkout B"  # the other checkout's setup, before the first uploads
    other = wheelhouse.ensure_wheelhouse((3, 11), "x86_64")
    mine = first.archive()
    digest = hashlib.sha256(mine.read_bytes()).hexdigest()
    theirs = other.archive()
    assert hashlib.sha256(mine.read_bytes()).hexdigest() == digest
    assert b"checkout A" in mine.read_bytes() and b"checkout B" not in mine.read_bytes()
    assert b"checkout B" in theirs.read_bytes()
