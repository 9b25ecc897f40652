"""`shipyard setup` on a fresh Debian 12 root: from nothing to a deploy, then no changes.

One debootstrap copy (tests/support/fresh_root.py) with its own sshd in a chroot is set
up, deployed to and set up again; a second copy is refused (not Debian-like, no
Python 3.11) before anything changes. A chroot has no systemd as PID 1, so here units
are installed and enabled (checked with `systemctl --root`) and the deploy starts nginx
itself: setup's path for a host without systemd. That the units start at boot, the
firewall is loaded and sshd refuses passwords is proven on a booted root, with systemd
as PID 1, in test_setup_booted.py (docs/setup.md).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from support.apprepo import AppRepo, free_port, make_repo
from support.fresh_root import FreshHost
from support.setup_hosts import (
    UNITS,
    Fleet,
    config,
    enabled_state,
    operator_files,
    setup,
    start_host,
)

from shipyard import __version__

pytestmark = pytest.mark.integration

ADDRESS = "127.0.0.41"


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    with operator_files() as files:
        yield files


@pytest.fixture(scope="module")
def fresh(fleet: Fleet) -> Iterator[tuple[FreshHost, AppRepo, int]]:
    host = start_host(fleet, ADDRESS)
    port = free_port(ADDRESS)
    repo = make_repo(fleet.work / "repo", config(fleet, host, port))
    yield host, repo, port
    host.stop()


def test_setup_makes_a_fresh_debian_root_a_shipyard_host(
    fresh: tuple[FreshHost, AppRepo, int],
) -> None:
    host, repo, _ = fresh
    result = setup(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "packages" in result.stdout and "changed" in result.stdout
    version = host.run("shipyard", "--version", user="deploy")
    assert version.returncode == 0 and __version__ in version.stdout, version
    assert host.run("id", "-u", "deploy").returncode == 0
    keys = (host.root / "home/deploy/.ssh/authorized_keys").read_text()
    assert repo.config.exists() and keys.strip().endswith("shipyard-setup-tests")
    for unit in UNITS:
        enabled = enabled_state(host, unit)
        assert enabled.stdout.strip() == "enabled", (unit, enabled)
    sshd = host.run("/usr/sbin/sshd", "-T", "-C", "user=root,host=x,addr=127.0.0.1")
    assert "passwordauthentication no" in sshd.stdout, sshd.stderr
    rules = (host.root / "etc/nftables.conf").read_text()
    assert "policy drop" in rules and "80, 443" in rules
    nft = host.run("nft", "-c", "-f", "/etc/nftables.conf")  # parses; never loaded here
    assert nft.returncode == 0, nft.stderr
    assert (host.root / "etc/logrotate.d/shipyard-reconcile-production").is_file()
    assert (host.root / "etc/apt/apt.conf.d/20auto-upgrades").is_file()


def test_after_setup_a_deploy_works_with_nothing_done_by_hand(
    fresh: tuple[FreshHost, AppRepo, int],
) -> None:
    host, repo, port = fresh
    result = repo.shipyard("deploy", "production", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    response = httpx.get(f"http://{host.address}:{port}/healthz", timeout=5)
    assert response.status_code == 200
    assert response.headers.get("X-App-Version") == "1.0.0"
    link = host.root / "etc/nginx/shipyard.d/shipyard-reconcile-production.conf"
    assert link.is_symlink()


def test_a_second_setup_changes_nothing_and_says_so(
    fresh: tuple[FreshHost, AppRepo, int],
) -> None:
    host, repo, port = fresh
    result = setup(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"deploy@{host.address}:{host.port}: no changes" in result.stdout, result.stdout
    response = httpx.get(f"http://{host.address}:{port}/healthz", timeout=5)
    assert response.status_code == 200


def test_check_says_what_would_change_and_changes_nothing(
    fresh: tuple[FreshHost, AppRepo, int],
) -> None:
    host, repo, _ = fresh
    rotate = host.root / "etc/logrotate.d/shipyard-reconcile-production"
    text = rotate.read_text()
    rotate.unlink()
    result = setup(repo, "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{rotate.relative_to(host.root)}" in result.stdout
    assert "would change: logrotate" in result.stdout, result.stdout
    assert not rotate.exists()
    rotate.write_text(text)


@pytest.fixture(scope="module")
def other(fleet: Fleet) -> Iterator[tuple[FreshHost, AppRepo]]:
    host = start_host(fleet, "127.0.0.42")
    repo = make_repo(fleet.work / "other", config(fleet, host, free_port("127.0.0.42")))
    yield host, repo
    host.stop()


def test_a_host_that_is_not_debian_like_is_refused_before_anything_changes(
    other: tuple[FreshHost, AppRepo],
) -> None:
    host, repo = other
    release = host.root / "etc/os-release"
    original = release.read_text()
    release.unlink()  # a link into /usr/lib in Debian
    release.write_text('ID=fedora\nPRETTY_NAME="Fedora Linux 40"\nVERSION_ID=40\n')
    try:
        result = setup(repo)
    finally:
        release.unlink()
        release.write_text(original)
    assert result.returncode == 7, result.stdout + result.stderr
    assert "Fedora Linux 40 is not Debian-like" in result.stderr
    assert "nothing was changed" in result.stderr
    assert host.run("id", "deploy").returncode != 0
    assert not (host.root / "usr/sbin/nginx").exists()


def test_a_host_without_python_3_11_is_refused_before_anything_changes(
    other: tuple[FreshHost, AppRepo],
) -> None:
    host, repo = other
    python = host.root / "usr/bin/python3"
    python.rename(python.with_name("python3.off"))
    try:
        result = setup(repo)
    finally:
        python.with_name("python3.off").rename(python)
    assert result.returncode == 7, result.stdout + result.stderr
    assert "python3 is not installed" in result.stderr
    assert host.run("id", "deploy").returncode != 0
