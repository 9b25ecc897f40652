"""Host-side pieces that need no services: unpacking, env files, lock staleness, digests."""

from __future__ import annotations

import io
import stat
import tarfile
from pathlib import Path

import pytest

from shipyard.host.envfile import parse_env_file, render_env_file, write_env_file
from shipyard.host.errors import HostOpError
from shipyard.host.lock import NotYourLock, is_stale
from shipyard.host.unpack import safe_unpack, sha256_of, verify_digest
from shipyard.plan.layout import Layout
from shipyard.protocol.common import LockHolder as Holder


def tarball(path: Path, members: list[tarfile.TarInfo]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for member in members:
            data = b"x" if member.isfile() else None
            if data is not None:
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


def test_a_normal_artifact_unpacks_with_its_internal_links(tmp_path: Path) -> None:
    archive = tarball(
        tmp_path / "a.tgz", [member("app.py"), member("lib/link.py", tarfile.SYMTYPE, "../app.py")]
    )
    dest = tmp_path / "out"
    dest.mkdir()
    safe_unpack(archive, dest)
    assert (dest / "app.py").read_bytes() == b"x"
    assert (dest / "lib" / "link.py").is_symlink()


@pytest.mark.parametrize(
    "bad",
    [
        member("../escape.py"),
        member("/etc/passwd-ish"),
        member("link", tarfile.SYMTYPE, "/etc/passwd"),
        member("a/link", tarfile.SYMTYPE, "../../outside"),
        member("dev", tarfile.CHRTYPE),
    ],
    ids=["dotdot", "absolute", "absolute-link", "escaping-link", "device"],
)
def test_unpacking_refuses_paths_and_links_that_leave_the_release(
    tmp_path: Path, bad: tarfile.TarInfo
) -> None:
    archive = tarball(tmp_path / "bad.tgz", [member("ok.py"), bad])
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(HostOpError, match="refused to unpack"):
        safe_unpack(archive, dest)
    assert not (tmp_path / "escape.py").exists()


def test_a_tampered_artifact_fails_digest_verification(tmp_path: Path) -> None:
    path = tmp_path / "a.tgz"
    path.write_bytes(b"original")
    digest = sha256_of(path)
    verify_digest(path, digest)
    path.write_bytes(b"tampered")
    with pytest.raises(HostOpError, match="digest mismatch"):
        verify_digest(path, digest)


def test_env_files_round_trip_any_value_and_are_written_0600(tmp_path: Path) -> None:
    values = {"A": 'quote " and newline\n', "B": "=equals=", "C": ""}
    assert parse_env_file(render_env_file(values)) == values
    path = tmp_path / ".env"
    write_env_file(path, values)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_lock_is_stale_when_its_heartbeat_stops_or_its_local_owner_died() -> None:
    holder = Holder("ana", "laptop", 42, "deploy", "deploy", "d1")
    assert not is_stale(holder, heartbeat_at=100.0, now=120.0, this_host="srv", pid_alive=False)
    assert is_stale(holder, heartbeat_at=100.0, now=200.0, this_host="srv", pid_alive=True)
    assert is_stale(holder, heartbeat_at=199.0, now=200.0, this_host="laptop", pid_alive=False)


def test_a_manual_lock_without_heartbeat_never_goes_stale_on_its_own() -> None:
    holder = Holder("ana", "laptop", 42, "maintenance", "lock acquire", None)
    assert not is_stale(holder, heartbeat_at=None, now=10**9, this_host="srv", pid_alive=True)


def test_socket_paths_over_the_os_limit_are_detected() -> None:
    assert Layout(Path("/srv/shipyard"), "app", "prod").too_long_socket_paths() == []
    deep = Layout(Path("/" + "d" * 90), "app", "prod")
    assert deep.too_long_socket_paths()


def test_only_the_person_who_took_a_manual_lock_releases_it_without_force(tmp_path: Path) -> None:
    from shipyard.host import lock
    from shipyard.host.state import State

    state = State.create(tmp_path / "state.db")
    lock.acquire(
        state,
        Holder("ana", "laptop", 1, "maintenance", "lock acquire", None),
        heartbeat=False,
        force=False,
    )
    with pytest.raises(NotYourLock):
        lock.release(state, None, force=False, actor="bob")
    assert lock.release(state, None, force=False, actor="ana") is not None
    assert lock.read(state) is None
