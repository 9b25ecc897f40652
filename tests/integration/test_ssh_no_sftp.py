"""Uploads to a host whose sshd has no `sftp` subsystem (issue 8, item 2): the file is
streamed to `cat` over an exec channel instead, with the same guarantees as over SFTP
(content and mode, renamed into place, no partial file left)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from support.apprepo import AppRepo, free_port, make_repo
from support.sshd import SshFleet, TestHost
from test_ssh_deploy import ssh_config

from shipyard.transport.base import TransportError
from shipyard.transport.ssh import SshTransport

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

T = TypeVar("T")


@pytest.fixture(scope="module")
def host(ssh_hosts: SshFleet) -> Iterator[TestHost]:
    host = ssh_hosts(1)[0]
    host.sftp = False
    host.stop()
    host.start()
    yield host
    host.sftp = True
    host.stop()


def with_transport(
    host: TestHost, fleet: SshFleet, body: Callable[[SshTransport], Awaitable[T]]
) -> T:
    async def main() -> T:
        transport = SshTransport(host.target, fleet.options())
        try:
            return await body(transport)
        finally:
            await transport.close()

    return asyncio.run(main())


def test_the_test_host_really_has_no_sftp_subsystem(host: TestHost, ssh_hosts: SshFleet) -> None:
    async def body(t: SshTransport) -> None:
        conn = await t._connection()
        with pytest.raises(Exception, match="Session request failed"):
            async with conn.start_sftp_client():
                pass

    with_transport(host, ssh_hosts, body)


def test_a_file_uploads_without_sftp_with_its_content_and_mode(
    host: TestHost, ssh_hosts: SshFleet, tmp_path: Path
) -> None:
    local = tmp_path / "artifact.tar.gz"
    local.write_bytes(os.urandom(3 * 1024 * 1024 + 17))  # several chunks, binary
    local.chmod(0o640)
    remote = host.root_dir / "artifact.tar.gz"
    remote.write_bytes(b"an older upload")

    async def body(t: SshTransport) -> None:
        await t.put(local, str(remote))
        await t.put(local, str(remote))  # the second goes straight to the fallback

    with_transport(host, ssh_hosts, body)
    assert remote.read_bytes() == local.read_bytes()
    assert remote.stat().st_mode & 0o777 == 0o640
    assert not Path(f"{remote}.part").exists()


def test_an_upload_without_sftp_onto_a_directory_is_refused_and_leaves_no_partial_file(
    host: TestHost, ssh_hosts: SshFleet, tmp_path: Path
) -> None:
    local = tmp_path / "file"
    local.write_text("data\n")
    occupied = host.root_dir / "occupied"
    occupied.mkdir(exist_ok=True)

    async def body(t: SshTransport) -> TransportError:
        with pytest.raises(TransportError) as caught:
            await t.put(local, str(occupied))
        return caught.value

    error = with_transport(host, ssh_hosts, body)
    assert f"{occupied} is a directory" in error.message
    assert "without SFTP" in error.message
    assert list(occupied.iterdir()) == [] and not Path(f"{occupied}.part").exists()


def test_an_upload_without_sftp_into_a_missing_directory_names_the_path_and_the_fix(
    host: TestHost, ssh_hosts: SshFleet, tmp_path: Path
) -> None:
    local = tmp_path / "file"
    local.write_text("data\n")
    remote = str(host.root_dir / "missing" / "file")

    async def body(t: SshTransport) -> TransportError:
        with pytest.raises(TransportError) as caught:
            await t.put(local, remote)
        return caught.value

    error = with_transport(host, ssh_hosts, body)
    assert remote in error.message
    assert "parent directory must exist" in error.hint


@pytest.fixture
def no_sftp_repo(host: TestHost, ssh_hosts: SshFleet) -> Iterator[tuple[AppRepo, int]]:
    for path in [host.root_dir, *host.root_dir.parents]:
        if str(path).startswith("/tmp/"):
            path.chmod(path.stat().st_mode | 0o005)  # nginx's workers reach the sockets
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="syn-", dir="/tmp"))
    yield make_repo(work / "repo", ssh_config(ssh_hosts, [host], port)), port
    request = json.dumps({"root": str(host.root_dir), "app": "reconcile", "env": "production"})
    subprocess.run(
        [sys.executable, "-m", "shipyard.host", "shutdown"], input=request, text=True, check=False
    )
    subprocess.run(["rm", "-rf", str(work), str(host.root_dir / "reconcile")], check=False)


def test_a_deploy_to_a_host_without_sftp_uploads_through_ssh_and_serves(
    host: TestHost, no_sftp_repo: tuple[AppRepo, int]
) -> None:
    repo, port = no_sftp_repo
    result = repo.shipyard("deploy", "production")
    assert result.returncode == 0, result.stderr + result.stdout
    response = httpx.get(f"http://{host.target.host}:{port}/healthz", timeout=5)
    assert (response.status_code, response.headers.get("X-App-Version")) == (200, "1.0.0")
