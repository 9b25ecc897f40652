"""`tls:` in shipyard.yml: modes, defaults, and refusals that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.config.errors import ConfigError
from shipyard.config.loader import ConfigFile
from shipyard.config.tls import LETS_ENCRYPT
from shipyard.plan import requests

BASE = """\
app: reconcile
start: python3 app.py
nginx:
  listen: 0.0.0.0:80
  server_names: [shop.example.com, www.shop.example.com]
environments:
  production:
    hosts: [deploy@10.0.0.6, {address: deploy@10.0.0.7, listen: "10.0.0.7:80"}]
"""


def env_with(tmp_path: Path, tls: str, extra: str = "") -> object:
    path = tmp_path / "shipyard.yml"
    path.write_text(BASE + "    tls:\n" + tls + extra)
    return ConfigFile.load(path).environment("production")


def test_tls_is_off_unless_asked_for_and_then_nginx_gets_no_https_server(tmp_path: Path) -> None:
    path = tmp_path / "shipyard.yml"
    path.write_text(BASE)
    env = ConfigFile.load(path).environment("production")
    assert env.tls.mode == "off"
    assert requests.proxy_spec(env, env.hosts[0]).tls is None


def test_acme_defaults_to_lets_encrypt_the_server_names_and_30_days(tmp_path: Path) -> None:
    env = env_with(tmp_path, "      mode: acme\n")
    assert env.tls.acme.directory == LETS_ENCRYPT  # type: ignore[attr-defined]
    assert env.tls.acme.renew_before_days == 30  # type: ignore[attr-defined]
    from shipyard.execute.tls import names_of

    assert names_of(env) == ["shop.example.com", "www.shop.example.com"]  # type: ignore[arg-type]


def test_https_listens_on_each_hosts_http_address_at_the_tls_port(tmp_path: Path) -> None:
    env = env_with(tmp_path, "      mode: self-signed\n      port: 8443\n      hsts: true\n")
    first, second = (requests.proxy_spec(env, h).tls for h in env.hosts)  # type: ignore[attr-defined]
    assert first is not None and second is not None
    assert (first.listen, second.listen) == ("0.0.0.0:8443", "10.0.0.7:8443")
    assert first.hsts == "max-age=63072000"
    assert first.plain_paths == ["/healthz"]


def test_acme_without_a_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "shipyard.yml"
    path.write_text(BASE.replace("[shop.example.com, www.shop.example.com]", "[_]"))
    path.write_text(path.read_text() + "    tls: {mode: acme}\n")
    with pytest.raises(ConfigError, match="needs a DNS name"):
        ConfigFile.load(path).environment("production")


def test_files_mode_needs_a_cert_and_key_each_from_a_path_or_a_known_secret(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="needs `files:`"):
        env_with(tmp_path, "      mode: files\n")
    with pytest.raises(ConfigError, match="exactly one of key"):
        env_with(tmp_path, "      mode: files\n      files: {cert: /etc/c.pem}\n")
    with pytest.raises(ConfigError, match="names secret TLS_KEY, which is not in secrets"):
        env_with(tmp_path, "      mode: files\n      files: {cert: c.pem, key_secret: TLS_KEY}\n")
    env = env_with(
        tmp_path,
        "      mode: files\n      files: {cert: c.pem, key_secret: TLS_KEY}\n",
        "    secrets: {TLS_KEY: {from_file: key.pem}}\n",
    )
    assert env.tls.files.key_secret == "TLS_KEY"  # type: ignore[attr-defined]


def test_the_https_port_must_differ_from_the_http_port(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="give HTTPS another"):
        env_with(tmp_path, "      mode: self-signed\n      port: 80\n")


def test_an_acme_directory_must_be_https_and_hsts_keys_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="https:// URL"):
        env_with(tmp_path, "      mode: acme\n      acme: {directory: 'http://x/dir'}\n")
    with pytest.raises(ConfigError, match="max_agee"):
        env_with(tmp_path, "      mode: acme\n      hsts: {max_agee: 5}\n")
    env = env_with(tmp_path, "      mode: acme\n      hsts: {max_age: 60, preload: true}\n")
    assert env.tls.hsts.header() == "max-age=60; preload"  # type: ignore[attr-defined]
