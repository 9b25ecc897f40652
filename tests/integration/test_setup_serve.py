"""`shipyard setup` with `setup.serve: true` on a fresh Debian 12 root, as a sudo user.

One debootstrap copy (tests/support/fresh_root.py) gets a user `admin` with passwordless
sudo (as cloud images have), and setup logs in as admin, not root. Then serve is started
from the installed unit's own User=, WorkingDirectory= and ExecStart= (there is no
systemd as PID 1 here: docs/setup.md), and shows that it runs: its API refuses without
the login and answers with the token, a heartbeat is checked against the token from its
0600 secret file, and it samples the watched host over SSH with its own key and the
known_hosts setup gave it. A second setup changes nothing; `--check` names a changed
secret's file and never its value.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from support.apprepo import AppRepo, free_port, make_repo
from support.fresh_root import FreshHost
from support.sshd import keygen

from shipyard.serve.web.auth import hash_secret

pytestmark = pytest.mark.integration

ADDRESS = "127.0.0.45"
TOKEN = "api-token-for-serve-7731"
BEAT = "beat-token-4410"
HOOK = "json://127.0.0.1:9/hook-secret-5512"
UNIT = "etc/systemd/system/shipyard-serve.service"
SERVE_HOME = "home/shipyard"


@dataclass
class World:
    work: Path
    host: FreshHost
    repo: AppRepo
    serve_port: int
    env: dict[str, str]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    work = Path(tempfile.mkdtemp(prefix="setup-serve-", dir="/tmp"))
    key = work / "client_ed25519"
    public = keygen(key, "shipyard-setup-serve-tests")
    (work / "ssh_config").write_text("")
    host = FreshHost(ADDRESS, free_port(ADDRESS), public)  # its own apt cache
    try:
        host.add_sudo_user("admin", public)
        host.start_sshd()
        (work / "known_hosts").write_text(host.known_hosts_line + "\n")
        serve_port = free_port(ADDRESS)
        config = {
            "app": "reconcile",
            "start": "python3 app.py",
            "nginx": {
                "mode": "system",
                "include_dir": "/etc/nginx/shipyard.d",
                "binary": "shipyard-nginx",
                "listen": f"{ADDRESS}:{free_port(ADDRESS)}",
            },
            "ssh": {
                "known_hosts": str(work / "known_hosts"),
                "identity_file": str(key),
                "config_file": str(work / "ssh_config"),
            },
            "setup": {"user": "admin", "authorized_keys": [public], "serve": True},
            "metrics": {"resource_alerts": {"sample_interval": 5}},
            "secrets": {"BEAT": {"from_env": "SERVE_TEST_BEAT"}},
            "alerts": {"channels": ["HOOK"]},
            "serve": {
                "listen": f"{ADDRESS}:{serve_port}",
                "secrets": {"HOOK": {"from_env": "SERVE_TEST_HOOK"}},
                "auth": {"token_hash": hash_secret(TOKEN)},
            },
            "environments": {
                "ops": {
                    "hosts": [f"deploy@{ADDRESS}:{host.port}"],
                    "checks": [
                        {
                            "name": "nightly",
                            "kind": "heartbeat",
                            "every_minutes": 60,
                            "token_secret": "BEAT",
                        }
                    ],
                }
            },
        }
        repo = make_repo(work / "repo", config)
        env = {"SERVE_TEST_BEAT": BEAT, "SERVE_TEST_HOOK": HOOK}
        yield World(work, host, repo, serve_port, env)
    finally:
        host.stop()
        shutil.rmtree(work, ignore_errors=True)


def setup(world: World, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return world.repo.shipyard("setup", "ops", *args, env={**world.env, **env}, timeout=900)


@contextlib.contextmanager
def serve_from_unit(world: World) -> Iterator[Path]:
    """serve, started from the installed unit's user, directory and command; SIGTERM."""
    log = world.work / "serve.log"
    process = world.host.start_unit(f"/{UNIT}", log)
    try:
        yield log
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)


def wait_for(probe: object, what: str, log: Path, seconds: float = 90) -> httpx.Response:
    deadline = time.monotonic() + seconds
    last: object = None
    while time.monotonic() < deadline:
        try:
            response = probe()  # type: ignore[operator]
            if response is not None:
                return response  # type: ignore[no-any-return]
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"{what}: {last}\n{log.read_text(errors='replace')[-3000:]}")


def test_setup_as_a_sudo_user_installs_serve_with_its_files_its_key_and_its_unit(
    world: World,
) -> None:
    result = setup(world)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "serve" in result.stdout and "changed" in result.stdout
    root = world.host.root
    public = (root / SERVE_HOME / ".ssh/shipyard-serve_ed25519.pub").read_text().strip()
    assert public.startswith("ssh-ed25519 ")
    assert "next: authorize serve's key" in result.stdout and public in result.stdout
    uid = int(world.host.run("id", "-u", "shipyard").stdout)
    base = root / SERVE_HOME / ".config/shipyard/serve"
    for path in (base / "shipyard.yml", base / "secrets/serve.HOOK", base / "secrets/ops.BEAT",
                 root / SERVE_HOME / ".ssh/shipyard-serve_ed25519"):  # fmt: skip
        stat = path.stat()
        assert (stat.st_mode & 0o777, stat.st_uid) == (0o600, uid), path
    assert (base / "secrets/serve.HOOK").read_text() == HOOK
    assert (base / "secrets/ops.BEAT").read_text() == BEAT
    for secret in (HOOK, BEAT):
        assert secret not in out and secret not in (base / "shipyard.yml").read_text()
    uploads = root / "home/admin/.cache/shipyard-setup"  # sudo's copies: not through /tmp
    assert uploads.stat().st_mode & 0o777 == 0o700 and list(uploads.iterdir()) == []
    assert (base / "known_hosts").read_text() == world.host.known_hosts_line + "\n"
    enabled = subprocess.run(
        ["systemctl", f"--root={root}", "is-enabled", "shipyard-serve.service"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert enabled.stdout.strip() == "enabled", enabled
    unit = (root / UNIT).read_text()
    checked = world.work / "shipyard-serve.service"  # the copy has no systemd to load it
    checked.write_text(unit.replace("ExecStart=/usr/local/bin/shipyard ", "ExecStart=/bin/true "))
    verify = subprocess.run(["systemd-analyze", "verify", str(checked)],
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert (verify.returncode, verify.stderr) == (0, ""), verify.stderr  # every key known


def test_serve_runs_from_the_units_command_behind_its_login_and_reaches_the_host(
    world: World,
) -> None:
    root = world.host.root
    public = (root / SERVE_HOME / ".ssh/shipyard-serve_ed25519.pub").read_text()
    with (root / "home/deploy/.ssh/authorized_keys").open("a") as keys:
        keys.write(public)  # the `next:` step, done by hand
    url = f"http://{ADDRESS}:{world.serve_port}"
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    with serve_from_unit(world) as log:
        health = wait_for(lambda: httpx.get(f"{url}/api/health", timeout=5), "serve", log)
        assert health.status_code == 200 and health.json()["environments"] == ["ops"]
        assert httpx.get(f"{url}/api/environments", timeout=5).status_code == 401
        assert httpx.get(f"{url}/api/environments", headers=bearer, timeout=5).status_code == 200
        beat = f"{url}/api/heartbeat/ops/nightly"
        assert httpx.post(beat, params={"token": "wrong"}, timeout=5).status_code == 403
        assert httpx.post(beat, params={"token": BEAT}, timeout=5).status_code < 300

        def sampled() -> httpx.Response | None:
            page = httpx.get(f"{url}/api/environments/ops/resources", headers=bearer, timeout=5)
            return page if page.status_code == 200 and page.json().get("hosts") else None

        resources = wait_for(sampled, "a resource sample of the watched host", log)
        assert resources.json()["hosts"][0]["last"]["mem_total"] > 0
    assert (root / SERVE_HOME / ".local/state/shipyard/serve.db").is_file()


def test_a_second_setup_changes_nothing_and_says_so(world: World) -> None:
    result = setup(world)
    assert result.returncode == 0, result.stdout + result.stderr
    label = f"deploy@{ADDRESS}:{world.host.port}"
    assert f"{label}: no changes" in result.stdout, result.stdout


def test_check_names_a_changed_secrets_file_never_its_value(world: World) -> None:
    secret = world.host.root / SERVE_HOME / ".config/shipyard/serve/secrets/serve.HOOK"
    changed = "json://127.0.0.1:9/another-secret-8810"
    result = setup(world, "--check", SERVE_TEST_HOOK=changed)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "serve: would change /home/shipyard/.config/shipyard/serve/secrets/serve.HOOK" in out
    assert changed not in out and HOOK not in out
    assert secret.read_text() == HOOK
