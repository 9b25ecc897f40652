"""HTTPS from a real ACME server: Pebble on loopback validates HTTP-01 through the
environment's own nginx (real nginx, supervisord, the example app; no mocks).

One environment and one Pebble for the whole file (module fixtures), used in order: the
first deploy obtains the certificate, later tests renew, redirect, add HSTS, fail.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from support.apprepo import AppRepo, free_port, git, local_config, make_repo
from support.load import Load
from support.localenv import TOKEN, shutdown
from support.pebble import Pebble
from support.webhook import webhook_receiver

pytestmark = pytest.mark.integration

NAME = "shop.example.com"
BAD_NAME = "unreachable.example.com"


@dataclass
class Site:
    repo: AppRepo
    pebble: Pebble
    root: Path
    http_port: int
    https_port: int
    state: Path  # XDG_STATE_HOME: the ACME account key

    @property
    def env(self) -> dict[str, str]:
        return {**TOKEN, "XDG_STATE_HOME": str(self.state)}

    def shipyard(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.repo.shipyard(*args, env=self.env)

    def tls_dir(self) -> Path:
        return self.root / "reconcile" / "local" / "tls"

    def key_dir(self) -> Path:
        """The served key's directory, as installed.json names it."""
        meta = json.loads((self.tls_dir() / "installed.json").read_text())
        return self.tls_dir() / f"key-{meta['key_id']}"

    def nginx_processes(self) -> tuple[int, set[int]]:
        """nginx's master pid and its workers' pids: a reload replaces every worker."""
        master = int((self.root / "reconcile" / "local" / "run" / "nginx.pid").read_text())
        workers = set()
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and _parent_pid(entry) == master:
                    workers.add(int(entry.name))
            except OSError:
                continue  # it exited meanwhile
        return master, workers

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=self.pebble.root_pem())
        context.check_hostname = False  # we connect to 127.0.0.1; the name is checked below
        return context

    def served_certificate(self) -> x509.Certificate:
        pem = ssl.get_server_certificate(("127.0.0.1", self.https_port))
        return x509.load_pem_x509_certificate(pem.encode())

    def https(self, path: str = "/healthz") -> httpx.Response:
        return httpx.get(
            f"https://127.0.0.1:{self.https_port}{path}",
            headers={"Host": NAME},
            verify=self.context(),
            timeout=5,
        )

    def edit_tls(self, **changes: Any) -> None:
        data = yaml.safe_load(self.repo.config.read_text())
        data["environments"]["local"]["tls"].update(changes)
        self.repo.write_config(data)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    base = Path(tempfile.mkdtemp(prefix="sytls-", dir="/tmp"))
    base.chmod(0o755)
    http_port, https_port = free_port(), free_port()
    pebble = Pebble(
        base / "pebble",
        http_port=http_port,
        dns={NAME: "127.0.0.1", BAD_NAME: "127.0.0.9"},  # nothing listens on .9
        validity_seconds=20 * 86400,  # inside the 30-day renewal window: always due
    )
    root = base / "hosts"
    config = local_config(root, http_port)
    config["nginx"]["server_names"] = [NAME]
    config["health"]["deadline"] = 30  # a busy machine starts the app slowly; it only waits
    with pebble:
        config["environments"]["local"]["tls"] = {
            "mode": "acme",
            "port": https_port,
            "acme": {
                "directory": pebble.directory,
                "email": "ops@example.com",
                "ca_bundle": str(pebble.ca_bundle),
            },
        }
        repo = make_repo(base / "repo", config)
        try:
            yield Site(repo, pebble, root, http_port, https_port, base / "state")
        finally:
            shutdown(root)
            subprocess.run(["rm", "-rf", str(base)], check=False)


def test_the_first_deploy_obtains_a_certificate_over_http_01_and_serves_https(
    site: Site,
) -> None:
    result = site.shipyard("deploy", "local")
    assert result.returncode == 0, result.stdout + result.stderr + site.pebble.logs()
    response = site.https()  # verified against Pebble's root
    assert response.status_code == 200 and response.headers["X-App-Version"] == "1.0.0"
    cert = site.served_certificate()
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [NAME]
    assert "Pebble" in cert.issuer.rfc4514_string()
    # the answers were removed once validated
    assert list((site.tls_dir() / "acme-challenge").iterdir()) == []


def _parent_pid(proc: Path) -> int:
    return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])


def _public_key(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_the_private_key_is_0600_owned_by_nginxs_worker_user_and_never_printed(
    site: Site,
) -> None:
    key = site.key_dir() / "privkey.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    # nginx's workers load it at each handshake; here they run as `nobody`, not as root
    _, workers = site.nginx_processes()
    owners = {Path(f"/proc/{pid}").stat().st_uid for pid in workers}
    assert owners == {key.stat().st_uid} and key.stat().st_uid != 0
    account = next(site.state.glob("shipyard/acme/*/account.json"))
    assert account.stat().st_mode & 0o777 == 0o600
    body = key.read_text().splitlines()[1]  # a line of the key's base64
    renewed = site.shipyard("tls", "renew", "local", "--force")
    assert renewed.returncode == 0, renewed.stdout + renewed.stderr
    status = site.shipyard("status", "local")
    new_body = key.read_text().splitlines()[1]
    logs = "".join(p.read_text(errors="replace") for p in (site.root / "reconcile").rglob("*.log"))
    for text in (renewed.stdout, renewed.stderr, status.stdout, status.stderr, logs):
        assert body not in text and new_body not in text
        assert "PRIVATE KEY" not in text


def test_plain_http_redirects_to_https_except_the_acme_path_and_the_health_check(
    site: Site,
) -> None:
    plain = f"http://127.0.0.1:{site.http_port}"
    moved = httpx.get(f"{plain}/reports?month=3", headers={"Host": NAME}, timeout=5)
    assert moved.status_code == 301
    assert moved.headers["Location"] == f"https://{NAME}:{site.https_port}/reports?month=3"
    challenge = httpx.get(f"{plain}/.well-known/acme-challenge/nothing-here", timeout=5)
    assert challenge.status_code == 404  # answered by nginx itself, not redirected
    assert httpx.get(f"{plain}/healthz", timeout=5).status_code == 200  # probes, balancers


def test_tls_status_shows_each_host_and_name_with_issuer_expiry_and_last_renewal(
    site: Site,
) -> None:
    shown = site.shipyard("tls", "status", "local")
    assert shown.returncode == 0, shown.stderr
    assert NAME in shown.stdout and "Pebble" in shown.stdout and "last renewal" in shown.stdout
    data = json.loads(site.shipyard("tls", "status", "local", "--json").stdout)
    (host,) = data["hosts"]
    assert host["certificate"]["names"] == [NAME] and host["certificate"]["renewed_at"]
    # Pebble issues for 20 days here: inside the 30-day window, so it is due
    assert host["due"].startswith("19.") or host["due"].startswith("20.")
    status = site.shipyard("status", "local")
    assert "certificate" in status.stdout and "days left" in status.stdout, status.stdout


def test_a_renewal_under_load_keeps_the_key_and_serves_the_new_certificate_without_a_reload_or_a_failed_request(
    site: Site,
) -> None:
    before = site.served_certificate()
    nginx_before = site.nginx_processes()
    url = f"https://127.0.0.1:{site.https_port}/healthz"
    # a client pool that looks before re-using a connection, and a raw keep-alive client
    # that sends on the connection it has: a reload would close its idle connections
    with (
        Load(url, rate=60, tls=site.context()) as checked,
        Load(url, rate=60, keepalive=4, fresh=False, plain=True, tls=site.context()) as raw,
    ):
        checked.wait_for(30)
        raw.wait_for(30)
        renewed = site.shipyard("tls", "renew", "local")  # due: 20 days left of 30
        assert renewed.returncode == 0, renewed.stdout + renewed.stderr + site.pebble.logs()
        checked.wait_for(30)
        raw.wait_for(30)
    assert "renewed" in renewed.stdout and "days left" in renewed.stdout
    assert "key: kept" in renewed.stdout and "nginx reloaded on: none" in renewed.stdout
    assert not checked.failed, checked.report()
    assert not raw.failed, raw.report()
    assert len(checked.samples) >= 60 and len(raw.samples) >= 60
    after = site.served_certificate()
    assert after.serial_number != before.serial_number
    assert _public_key(after) == _public_key(before)  # the same key
    assert site.nginx_processes() == nginx_before  # the same master and workers: no reload


def test_a_renewal_with_a_new_key_swaps_the_live_links_under_load_without_a_reload(
    site: Site,
) -> None:
    before = site.served_certificate()
    old_dir = site.key_dir()
    nginx_before = site.nginx_processes()
    conf = (site.root / "reconcile" / "local" / "proxy" / "server.conf").read_text()
    url = f"https://127.0.0.1:{site.https_port}/healthz"
    with Load(url, rate=60, keepalive=4, fresh=False, plain=True, tls=site.context()) as raw:
        raw.wait_for(30)
        renewed = site.shipyard("tls", "renew", "local", "--new-key")
        assert renewed.returncode == 0, renewed.stdout + renewed.stderr + site.pebble.logs()
        raw.wait_for(30)
    assert "key: new (--new-key)" in renewed.stdout and "nginx reloaded on: none" in renewed.stdout
    assert not raw.failed, raw.report()
    after = site.served_certificate()
    assert _public_key(after) != _public_key(before)
    assert site.key_dir() != old_dir and old_dir.is_dir()  # the previous key, kept once
    for link in ("live-a", "live-b"):  # both links name the new key's directory
        assert (site.tls_dir() / link).readlink() == Path(site.key_dir().name)
    key = site.key_dir() / "privkey.pem"
    assert key.stat().st_mode & 0o777 == 0o600 and key.stat().st_uid != 0
    assert site.nginx_processes() == nginx_before  # the same master and workers: no reload
    assert (site.root / "reconcile" / "local" / "proxy" / "server.conf").read_text() == conf
    assert site.https().status_code == 200


def test_hsts_is_sent_on_https_when_asked_for(site: Site) -> None:
    assert "Strict-Transport-Security" not in site.https().headers
    site.edit_tls(hsts={"max_age": 31536000, "include_subdomains": True})
    renewed = site.shipyard("tls", "renew", "local", "--force")
    assert renewed.returncode == 0, renewed.stdout + renewed.stderr
    header = site.https().headers["Strict-Transport-Security"]
    assert header == "max-age=31536000; includeSubDomains"


def test_a_failing_validation_is_a_clear_error_and_nothing_served_changes(site: Site) -> None:
    before = site.served_certificate().serial_number
    site.edit_tls(acme={**_acme(site), "names": [NAME, BAD_NAME]})
    try:
        failed = site.shipyard("tls", "renew", "local")
    finally:
        site.edit_tls(acme=_acme(site))
    assert failed.returncode == 1, failed.stdout + failed.stderr
    message = failed.stdout + failed.stderr
    assert BAD_NAME in message and "validation failed" in message and "local" in message
    assert "Traceback" not in message
    assert site.served_certificate().serial_number == before
    assert site.https().status_code == 200
    assert list((site.tls_dir() / "acme-challenge").iterdir()) == []


def test_a_failing_renewal_sends_one_alert_naming_the_names_hosts_and_acme_error(
    site: Site,
) -> None:
    data = yaml.safe_load(site.repo.config.read_text())
    alerting = yaml.safe_load(site.repo.config.read_text())  # a copy to change
    alerting["alerts"] = {"channels": ["HOOK"]}
    alerting["serve"] = {"secrets": {"HOOK": {"from_env": "SHIPYARD_TEST_HOOK"}}}
    alerting["environments"]["local"]["tls"]["acme"]["names"] = [NAME, BAD_NAME]
    with webhook_receiver() as receiver:
        site.repo.write_config(alerting)
        try:
            failed = site.repo.shipyard(
                "tls", "renew", "local", env={**site.env, "SHIPYARD_TEST_HOOK": receiver.json_url()}
            )
        finally:
            site.repo.write_config(data)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        posts = receiver.wait_for(1, timeout=5)
    assert len(posts) == 1
    fields = posts[0].fields
    assert fields["title"].startswith("[TLS RENEWAL FAILED] local: certificate for ")
    assert BAD_NAME in fields["title"]
    assert "validation failed" in fields["message"] and "Where: local: local" in fields["message"]
    assert "shipyard tls renew local" in fields["message"]


def _acme(site: Site) -> dict[str, Any]:
    data = yaml.safe_load(site.repo.config.read_text())
    acme = dict(data["environments"]["local"]["tls"]["acme"])
    acme.pop("names", None)
    return acme


def test_the_account_key_is_reused_for_the_next_order(site: Site) -> None:
    accounts = list(site.state.glob("shipyard/acme/*/account.json"))
    assert len(accounts) == 1
    assert os.stat(accounts[0]).st_mode & 0o077 == 0


def test_self_signed_mode_replaces_the_acme_certificate_with_one_made_here(site: Site) -> None:
    site.edit_tls(mode="self-signed")
    renewed = site.shipyard("tls", "renew", "local")  # due: it came from acme
    assert renewed.returncode == 0, renewed.stdout + renewed.stderr
    assert "came from acme" in renewed.stdout
    cert = site.served_certificate()
    assert cert.issuer.rfc4514_string() == f"CN={NAME}"


def test_files_mode_installs_the_teams_certificate_and_refuses_a_key_that_is_not_its(
    site: Site,
) -> None:
    from shipyard.execute.tls_material import self_signed

    ours, other = self_signed([NAME]), self_signed([NAME])
    secrets = site.state / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    (secrets / "cert.pem").write_text(ours.cert_pem)
    (secrets / "key.pem").write_text(other.key_pem)  # the wrong key first
    (secrets / "key.pem").chmod(0o600)
    data = yaml.safe_load(site.repo.config.read_text())
    data["environments"]["local"]["secrets"] = {"TLS_KEY": {"from_file": str(secrets / "key.pem")}}
    data["environments"]["local"]["tls"].update(
        mode="files", files={"cert": str(secrets / "cert.pem"), "key_secret": "TLS_KEY"}
    )
    site.repo.write_config(data)
    before = site.served_certificate().serial_number
    refused = site.shipyard("tls", "renew", "local")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "does not belong to the certificate" in refused.stdout + refused.stderr
    assert site.served_certificate().serial_number == before

    (secrets / "key.pem").write_text(ours.key_pem)
    installed = site.shipyard("tls", "renew", "local")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    served = site.served_certificate()
    assert served.public_bytes(serialization.Encoding.PEM).decode() == ours.cert_pem
    again = site.shipyard("tls", "renew", "local")
    assert "nothing to renew" in again.stdout


def test_tls_turned_off_then_on_again_is_obtained_by_tls_renew_without_a_deploy(
    site: Site,
) -> None:
    data = yaml.safe_load(site.repo.config.read_text())
    data["environments"]["local"]["tls"] = {"mode": "off"}
    site.repo.write_config(data)
    git(site.repo.path, "commit", "-qam", "tls off")
    off = site.shipyard("deploy", "local")
    assert off.returncode == 0, off.stdout + off.stderr
    plain = httpx.get(f"http://127.0.0.1:{site.http_port}/reports", timeout=5)
    assert plain.status_code != 301  # served over HTTP again, not redirected
    with pytest.raises(httpx.ConnectError):
        site.https()

    shutil.rmtree(site.tls_dir())  # as on a host that never had TLS
    data["environments"]["local"]["tls"] = {
        "mode": "acme",
        "port": site.https_port,
        "acme": {"directory": site.pebble.directory, "ca_bundle": str(site.pebble.ca_bundle)},
    }
    site.repo.write_config(data)
    on = site.shipyard("tls", "renew", "local")
    assert on.returncode == 0, on.stdout + on.stderr + site.pebble.logs()
    assert "no certificate installed" in on.stdout
    # the site (ACME path, placeholder HTTPS server) reloaded before the order; the
    # certificate itself was a link renamed over
    assert "nginx reloaded on: none" in on.stdout
    assert "Pebble" in site.served_certificate().issuer.rfc4514_string()
    assert site.https().status_code == 200


def _acme_on(site: Site, names: list[str] | None = None) -> dict[str, Any]:
    data = yaml.safe_load(site.repo.config.read_text())
    acme: dict[str, Any] = {
        "directory": site.pebble.directory,
        "ca_bundle": str(site.pebble.ca_bundle),
    }
    if names:
        acme["names"] = names
    data["environments"]["local"]["tls"] = {"mode": "acme", "port": site.https_port, "acme": acme}
    return data


def _deploy_tls_off(site: Site) -> None:
    data = yaml.safe_load(site.repo.config.read_text())
    data["environments"]["local"]["tls"] = {"mode": "off"}
    site.repo.write_config(data)
    git(site.repo.path, "commit", "-qam", "tls off", "--allow-empty")
    off = site.shipyard("deploy", "local")
    assert off.returncode == 0, off.stdout + off.stderr
    shutil.rmtree(site.tls_dir(), ignore_errors=True)  # as on a host that never had TLS


def test_right_after_nginx_reloads_for_the_challenge_every_new_connection_meets_the_new_site(
    site: Site,
) -> None:
    """The ACME server once met a 404 just after the host's own check had seen the
    answer: an old worker (TLS off) still accepted for ~100 ms after the reload. Each
    round takes the site back to TLS off, then runs the challenge step (a reload to the
    site with the ACME path) and at once opens new connections, as the ACME server does."""
    import dataclasses

    from shipyard.config.loader import ConfigFile
    from shipyard.host.agent import run
    from shipyard.host.nginx import Nginx
    from shipyard.plan import requests
    from shipyard.plan.layout import Layout
    from shipyard.plan.tls_conf import ACME_PATH
    from shipyard.protocol.codec import encode

    _deploy_tls_off(site)
    path = site.repo.config
    path.write_text(yaml.safe_dump(_acme_on(site)))
    env = ConfigFile.load(path).environment("local")
    spec = requests.proxy_spec(env, env.hosts[0])
    layout = Layout(site.root, "reconcile", "local")
    token, answer = "t0ken-after-a-reload", "t0ken-after-a-reload.thumbprint"
    where = {"root": str(site.root), "app": "reconcile", "env": "local"}
    request = f"GET {ACME_PATH}{token} HTTP/1.0\r\nHost: {NAME}\r\n\r\n".encode()

    def fetch(_: int) -> tuple[str, bool]:  # a new connection each, as the ACME server's
        # raw sockets: quick enough to land inside the ~100 ms an old worker accepts
        with socket.create_connection(("127.0.0.1", site.http_port), timeout=5) as conn:
            conn.sendall(request)
            reply = b""
            while chunk := conn.recv(65536):
                reply += chunk
        head, _, body = reply.decode(errors="replace").partition("\r\n\r\n")
        return head.split()[1], body.strip() == answer

    try:
        for _ in range(8):  # an old worker may or may not be met in one round
            Nginx(layout, dataclasses.replace(spec, tls=None)).apply(env.ports)  # TLS off
            done = run(
                "tls-challenge",
                {
                    **where,
                    "answers": {token: answer},
                    "proxy": encode(spec),
                    "ports": list(env.ports),
                },
            )
            assert done["ok"], done
            with ThreadPoolExecutor(4) as pool:
                statuses = list(pool.map(fetch, range(120)))
            assert statuses == [("200", True)] * 120
    finally:
        run("tls-challenge", {**where, "answers": {token: answer}, "clear": True})


def test_a_deploy_whose_validation_fails_serves_the_placeholder_and_plain_http_unredirected(
    site: Site,
) -> None:
    _deploy_tls_off(site)
    site.repo.write_config(_acme_on(site, [NAME, BAD_NAME]))
    git(site.repo.path, "commit", "-qam", "tls acme, one name unreachable")
    failed = site.shipyard("deploy", "local")
    message = failed.stdout + failed.stderr
    assert failed.returncode != 0, message
    assert BAD_NAME in message and "validation failed" in message and "Traceback" not in message
    # PREPARE gave nginx the HTTPS server with the placeholder, made on the host
    cert = site.served_certificate()
    assert "placeholder" in cert.issuer.rfc4514_string()
    meta = json.loads((site.tls_dir() / "installed.json").read_text())
    key = site.tls_dir() / f"key-{meta['key_id']}" / "privkey.pem"
    assert key.stat().st_mode & 0o777 == 0o600 and key.stat().st_uid != 0
    # no redirect to a certificate a visitor would refuse; the app answers over HTTP
    plain = httpx.get(f"http://127.0.0.1:{site.http_port}/reports", headers={"Host": NAME})
    assert plain.status_code != 301 and plain.headers.get("X-App-Version") == "1.0.0"
    assert not (site.tls_dir() / "redirect").exists()
    shown = site.shipyard("tls", "status", "local")
    assert "pending: placeholder self-signed, no certificate obtained yet" in shown.stdout
    status = site.shipyard("status", "local")
    assert "pending: placeholder self-signed" in status.stdout, status.stdout


def test_the_next_deploy_obtains_the_first_certificate_without_reloading_nginx(
    site: Site,
) -> None:
    site.repo.write_config(_acme_on(site))
    git(site.repo.path, "commit", "-qam", "tls acme")
    nginx_before = site.nginx_processes()
    deployed = site.shipyard("deploy", "local")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr + site.pebble.logs()
    assert site.nginx_processes() == nginx_before  # the placeholder's site serves it as is
    assert "Pebble" in site.served_certificate().issuer.rfc4514_string()
    assert site.https().status_code == 200
    plain = f"http://127.0.0.1:{site.http_port}"
    moved = httpx.get(f"{plain}/reports", headers={"Host": NAME}, timeout=5)
    assert moved.status_code == 301
    assert moved.headers["Location"] == f"https://{NAME}:{site.https_port}/reports"
    challenge = httpx.get(f"{plain}/.well-known/acme-challenge/nothing-here", timeout=5)
    assert challenge.status_code == 404  # the ACME path is never redirected
    assert "pending" not in site.shipyard("tls", "status", "local").stdout
