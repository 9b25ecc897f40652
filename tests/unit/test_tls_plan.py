"""TLS decisions and text: nginx's HTTPS server, the redirect, renewal, the timer."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest

from shipyard.plan.nginx_conf import ServerBlock, render_server
from shipyard.plan.tls import Wanted, renewal_reason
from shipyard.plan.tls_conf import MOZILLA_INTERMEDIATE_CIPHERS, HttpsServer, is_token
from shipyard.plan.tls_timer import RenewalTimer, renewal_units
from shipyard.protocol.tls import CertificateInfo

DAY = 86400.0
NOW = 1_800_000_000.0

BLOCK = ServerBlock(
    app="shop",
    env="production",
    listen="0.0.0.0:80",
    server_names=("shop.example.com",),
    client_max_body_size="10m",
    access_log=Path("/srv/l/access.log"),
    listen_mode="socket",
    current_socket=Path("/srv/r/current.sock"),
    previous_socket=Path("/srv/r/previous.sock"),
    route_link=Path("/srv/r/run/route"),
    ports=(8001, 8002),
)
HTTPS = HttpsServer(
    listen="0.0.0.0:443",
    cert=Path("/srv/tls/fullchain.pem"),
    key=Path("/srv/tls/privkey.pem"),
    hsts=None,
    zone="shipyard_shop_production_tls",
)


def with_tls(**changes: object) -> str:
    https = dataclasses.replace(HTTPS, **changes)  # type: ignore[arg-type]
    block = dataclasses.replace(
        BLOCK, https=https, challenges=Path("/srv/tls/acme-challenge"), plain_paths=("/healthz",)
    )
    return render_server(block)


def test_without_tls_the_server_block_is_what_it_always_was() -> None:
    text = render_server(BLOCK)
    assert "ssl" not in text and "acme-challenge" not in text and "return 301" not in text
    assert text.count("server {") == 1


def test_before_the_first_certificate_only_the_acme_path_is_added() -> None:
    text = render_server(dataclasses.replace(BLOCK, challenges=Path("/srv/tls/acme-challenge")))
    assert (
        "location ^~ /.well-known/acme-challenge/ {\n        alias /srv/tls/acme-challenge/;"
        in (text)
    )
    assert "return 301" not in text and "listen 0.0.0.0:443" not in text
    assert "proxy_pass" in text  # still serving over HTTP meanwhile


def test_with_a_certificate_http_redirects_except_the_acme_path_and_the_health_check() -> None:
    plain, https = with_tls().split("\nserver {\n    listen 0.0.0.0:443 ssl;")
    assert "return 301 https://$host$request_uri;" in plain
    assert "location ^~ /.well-known/acme-challenge/" in plain
    assert "location = /healthz {\n        proxy_pass" in plain
    assert "ssl_certificate /srv/tls/fullchain.pem;" in https
    assert "ssl_certificate_key /srv/tls/privkey.pem;" in https
    assert "proxy_pass http://shipyard_shop_production;" in https


def test_a_redirect_to_another_https_port_names_it() -> None:
    assert "return 301 https://$host:8443$request_uri;" in with_tls(listen="0.0.0.0:8443")


def test_the_tls_settings_are_mozillas_intermediate_profile() -> None:
    text = with_tls()
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in text
    assert f"ssl_ciphers {MOZILLA_INTERMEDIATE_CIPHERS};" in text
    assert "ssl_prefer_server_ciphers off;" in text
    assert "ssl_session_tickets off;" in text
    assert "ssl_session_cache shared:shipyard_shop_production_tls:10m;" in text
    assert all(
        suite.startswith(("ECDHE-", "DHE-")) and ("GCM" in suite or "CHACHA20" in suite)
        for suite in MOZILLA_INTERMEDIATE_CIPHERS.split(":")
    )


def test_hsts_is_sent_on_https_only_when_asked_for() -> None:
    assert "Strict-Transport-Security" not in with_tls()
    text = with_tls(hsts="max-age=63072000; includeSubDomains")
    header = 'add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;'
    plain, https = text.split("listen 0.0.0.0:443 ssl;")
    assert header in https and header not in plain


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_nginx_accepts_the_https_server_it_is_given(tmp_path: Path) -> None:
    from shipyard.execute.tls_material import self_signed

    material = self_signed(["shop.example.com"])
    (tmp_path / "c.pem").write_text(material.cert_pem)
    (tmp_path / "k.pem").write_text(material.key_pem)
    (tmp_path / "ch").mkdir()
    block = dataclasses.replace(
        BLOCK,
        listen="127.0.0.1:1",
        access_log=tmp_path / "access.log",
        https=dataclasses.replace(
            HTTPS,
            listen="127.0.0.1:2",
            cert=tmp_path / "c.pem",
            key=tmp_path / "k.pem",
            hsts="max-age=1",
        ),
        challenges=tmp_path / "ch",
        plain_paths=("/healthz",),
    )
    (tmp_path / "server.conf").write_text(render_server(block))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        f"events {{}}\nhttp {{ include {tmp_path}/server.conf; }}\n"
    )
    result = subprocess.run(
        ["nginx", "-t", "-q", "-p", f"{tmp_path}/", "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def cert(**changes: object) -> CertificateInfo:
    info = CertificateInfo(
        names=["shop.example.com"],
        issuer="CN=Pebble Intermediate CA",
        not_before=NOW - 10 * DAY,
        not_after=NOW + 80 * DAY,
        serial="ab12",
        source="acme",
        renewed_at=NOW - 10 * DAY,
        key_mode="0600",
    )
    return dataclasses.replace(info, **changes)  # type: ignore[arg-type]


WANT = Wanted(names=["shop.example.com"], source="acme", renew_before_days=30)


def test_a_certificate_with_more_than_30_days_left_is_not_renewed() -> None:
    assert renewal_reason(cert(), WANT, NOW) is None
    assert renewal_reason(cert(not_after=NOW + 30.5 * DAY), WANT, NOW) is None


def test_a_certificate_with_30_days_or_fewer_left_is_renewed_and_says_how_many() -> None:
    assert renewal_reason(cert(not_after=NOW + 30 * DAY), WANT, NOW) == (
        "30.0 days left (renewing at 30 or fewer)"
    )
    assert renewal_reason(cert(not_after=NOW - 1), WANT, NOW) == "the certificate has expired"


def test_a_missing_certificate_a_missing_name_or_another_mode_is_renewed() -> None:
    assert renewal_reason(None, WANT, NOW) == "no certificate installed"
    two = dataclasses.replace(WANT, names=["shop.example.com", "www.shop.example.com"])
    assert renewal_reason(cert(), two, NOW) == "the certificate does not cover www.shop.example.com"
    assert renewal_reason(cert(source="self-signed"), WANT, NOW) == (
        "the certificate came from self-signed; tls.mode is acme"
    )


def test_in_files_mode_only_a_different_file_is_installed_whatever_its_expiry() -> None:
    files = dataclasses.replace(WANT, source="files", serial="ab12")
    assert renewal_reason(cert(source="files", not_after=NOW + DAY), files, NOW) is None
    changed = dataclasses.replace(files, serial="cd34")
    assert renewal_reason(cert(source="files"), changed, NOW) == (
        "the configured certificate differs from the installed one"
    )


def test_only_base64url_tokens_become_challenge_file_names() -> None:
    assert is_token("LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0")
    for bad in ("../etc/passwd", "a/b", "", "a b", "x" * 300):
        assert not is_token(bad)


def test_the_renewal_timer_runs_tls_renew_twice_a_day_for_the_environment() -> None:
    units = renewal_units(
        RenewalTimer(
            app="shop",
            env="production",
            command=["/opt/shipyard/bin/shipyard"],
            config="/etc/shipyard/shop/shipyard.yml",
            user="deploy",
        )
    )
    service = units["shipyard-tls-renew-shop-production.service"]
    timer = units["shipyard-tls-renew-shop-production.timer"]
    assert (
        "ExecStart=/opt/shipyard/bin/shipyard tls renew production "
        "--config /etc/shipyard/shop/shipyard.yml\n" in service
    )
    assert "Type=oneshot" in service and "User=deploy\n" in service
    assert "OnCalendar=*-*-* 00,12:00:00" in timer and "Persistent=true" in timer
    assert "WantedBy=timers.target" in timer


def test_installing_the_renewal_timer_twice_writes_its_units_once(tmp_path: Path) -> None:
    import asyncio

    from shipyard.execute.tls_timer import install_renewal_timer
    from shipyard.transport.local import LocalTransport

    timer = RenewalTimer(app="shop", env="production", command=["shipyard"], config="/c.yml")

    def install() -> list[str]:
        done = asyncio.run(
            install_renewal_timer(LocalTransport(), timer, unit_dir=str(tmp_path), enable=False)
        )
        return done.changed

    assert len(install()) == 2
    assert install() == []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(renewal_units(timer))
