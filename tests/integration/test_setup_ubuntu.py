"""`shipyard setup` on a fresh Ubuntu 24.04 root: from nothing to a deploy, then no changes.

The same path as test_setup_fresh_root.py (Debian 12), on a debootstrap copy of Ubuntu
24.04 "noble" with its own sshd in a chroot (tests/support/fresh_root.py, Image.NOBLE):
its own packages from archive.ubuntu.com (restic from `universe`, as an Ubuntu droplet
has it enabled), Python 3.12, so the wheelhouse ships cp312 wheels of Shipyard's
dependencies. Units are installed and enabled, checked with `systemctl --root`; the
booted checks (units at boot, the firewall loaded) are Debian's, in test_setup_booted.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from support.apprepo import AppRepo, free_port, make_repo
from support.fresh_root import FreshHost, Image
from support.setup_hosts import UNITS, config, enabled_state, operator_files, setup, start_host

from shipyard import __version__

pytestmark = pytest.mark.integration

ADDRESS = "127.0.0.47"


@pytest.fixture(scope="module")
def ubuntu() -> Iterator[tuple[FreshHost, AppRepo, int]]:
    with operator_files() as fleet:
        host = start_host(fleet, ADDRESS, Image.NOBLE)
        try:
            port = free_port(ADDRESS)
            yield host, make_repo(fleet.work / "repo", config(fleet, host, port)), port
        finally:
            host.stop()


def test_the_fresh_root_is_ubuntu_24_04_with_python_3_12(
    ubuntu: tuple[FreshHost, AppRepo, int],
) -> None:
    host, _, _ = ubuntu
    release = (host.root / "etc/os-release").read_text()
    assert 'VERSION_ID="24.04"' in release and "ID=ubuntu" in release
    python = host.run("python3", "-c", "import sys; print(sys.version_info[:2])")
    assert python.stdout.strip() == "(3, 12)", python


def test_setup_makes_a_fresh_ubuntu_root_a_shipyard_host(
    ubuntu: tuple[FreshHost, AppRepo, int],
) -> None:
    host, repo, _ = ubuntu
    result = setup(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "packages" in result.stdout and "changed" in result.stdout
    version = host.run("shipyard", "--version", user="deploy")
    assert version.returncode == 0 and __version__ in version.stdout, version
    venv_python = host.run("/opt/shipyard/venv/bin/python", "--version")
    assert "Python 3.12" in venv_python.stdout, venv_python
    wheels = [p.name for p in (host.root / "opt/shipyard/wheels").rglob("*.whl")]
    assert any("cp312" in name for name in wheels), wheels  # binary deps built for 3.12
    for unit in UNITS:
        enabled = enabled_state(host, unit)
        assert enabled.stdout.strip() == "enabled", (unit, enabled)
    sshd = host.run("/usr/sbin/sshd", "-T", "-C", "user=root,host=x,addr=127.0.0.1")
    assert "passwordauthentication no" in sshd.stdout, sshd.stderr
    nft = host.run("nft", "-c", "-f", "/etc/nftables.conf")  # parses; never loaded here
    assert nft.returncode == 0, nft.stderr
    assert host.run("restic", "version").returncode == 0
    assert host.run("pg_dump", "--version").returncode == 0


def test_after_setup_a_deploy_to_ubuntu_works_with_nothing_done_by_hand(
    ubuntu: tuple[FreshHost, AppRepo, int],
) -> None:
    host, repo, port = ubuntu
    result = repo.shipyard("deploy", "production", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    response = httpx.get(f"http://{host.address}:{port}/healthz", timeout=5)
    assert response.status_code == 200
    assert response.headers.get("X-App-Version") == "1.0.0"


def test_a_second_setup_on_ubuntu_changes_nothing_and_says_so(
    ubuntu: tuple[FreshHost, AppRepo, int],
) -> None:
    host, repo, port = ubuntu
    result = setup(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"deploy@{host.address}:{host.port}: no changes" in result.stdout, result.stdout
    response = httpx.get(f"http://{host.address}:{port}/healthz", timeout=5)
    assert response.status_code == 200
