"""A renewal that keeps the private key: the choice, the key directories nginx loads per
handshake, the request signed on the host, and who owns the key file (pure logic and
files in a temporary tree; nginx itself: tests/integration/test_tls_acme.py)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from shipyard.execute.tls_material import self_signed
from shipyard.host import tls_files
from shipyard.host.errors import HostOpError
from shipyard.host.tls_key_owner import key_owner
from shipyard.host.tls_keys import csr_pem, id_of_certificate, id_of_key
from shipyard.host.tls_placeholder import ensure_placeholder
from shipyard.host.tls_site import https_parts
from shipyard.plan.layout import Layout
from shipyard.plan.nginx_conf import ServerBlock, render_server
from shipyard.plan.tls_conf import HttpsServer
from shipyard.plan.tls_key import key_choice
from shipyard.protocol.specs import ProxySpec, TlsSpec

NAME = "shop.example.com"
HOSTS = ["deploy@10.0.0.6", "deploy@10.0.0.7"]
META = {"source": "acme", "renewed_at": 1.0}


def test_an_acme_renewal_keeps_the_key_every_host_holds() -> None:
    choice = key_choice("acme", dict.fromkeys(HOSTS, "0123456789abcdef"), new_key=False)
    assert choice.keep == "0123456789abcdef" and choice.why == "kept (every host holds it)"


def test_a_new_key_is_made_when_asked_when_a_host_has_none_or_the_hosts_differ() -> None:
    same = dict.fromkeys(HOSTS, "0123456789abcdef")
    assert key_choice("acme", same, new_key=True).keep is None
    missing = key_choice("acme", {HOSTS[0]: "0123456789abcdef", HOSTS[1]: None}, False)
    assert missing.keep is None and HOSTS[1] in missing.why
    differ = key_choice("acme", {HOSTS[0]: "0" * 16, HOSTS[1]: "1" * 16}, False)
    assert differ == dataclasses.replace(
        differ, keep=None, why="new (the hosts hold different keys)"
    )
    assert key_choice("self-signed", same, False).keep is None


def test_only_root_gives_the_key_to_the_workers_whose_uid_is_read_first() -> None:
    assert key_owner(1000, {65534}, 65534) is None  # not root: nginx's workers run as us
    assert key_owner(0, {33}, 65534) == 33  # the running workers' user
    assert key_owner(0, set(), 65534) == 65534  # none running: nginx.worker_user / nobody
    assert key_owner(0, {33, 34}, 65534) == 65534  # ambiguous: the configured one


def layout(tmp_path: Path) -> Layout:
    return Layout(tmp_path, "shop", "production")


def links(where: Layout) -> set[Path]:
    """Where the two live links point (both the same once an install is over)."""
    return {link.readlink() for link in where.tls_links if link.is_symlink()}


def test_a_certificate_and_its_key_go_in_the_keys_own_directory_the_key_0600(
    tmp_path: Path,
) -> None:
    where = layout(tmp_path)
    material = self_signed([NAME])
    assert material.key_pem is not None
    key_id = id_of_certificate(material.cert_pem)
    assert key_id == id_of_key(material.key_pem) and len(key_id) == 16
    key = tls_files.write_certificate(where, key_id, material.cert_pem, material.key_pem, META)
    assert key == where.tls_key_dir(key_id) / "privkey.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    assert json.loads(where.tls_meta.read_text())["key_id"] == key_id
    served = tls_files.served(where)
    assert served is not None and served.per_handshake and not served.placeholder
    assert served.key == where.tls_links[0] / "privkey.pem"  # nginx is given the links
    assert links(where) == {Path(f"key-{key_id}")}  # which name the key's directory
    assert where.tls_redirect.exists()  # a real certificate: plain HTTP redirects
    info = tls_files.certificate_info(where)
    assert info is not None and info.key_id == key_id and info.key_mode == "0600"


def test_a_kept_key_renewal_replaces_only_the_certificate_and_can_be_put_back(
    tmp_path: Path,
) -> None:
    where = layout(tmp_path)
    first = self_signed([NAME])
    key_id = id_of_certificate(first.cert_pem)
    key = tls_files.write_certificate(where, key_id, first.cert_pem, first.key_pem, META)
    key_inode = key.stat().st_ino
    renewed = _issue_for(first, [NAME, f"www.{NAME}"])
    saved = tls_files.save(where, key_id)
    tls_files.write_certificate(where, key_id, renewed, None, META)
    assert key.stat().st_ino == key_inode  # the key file was not touched
    assert (where.tls_key_dir(key_id) / "fullchain.pem").read_text() == renewed
    tls_files.restore(where, saved)
    assert (where.tls_key_dir(key_id) / "fullchain.pem").read_text() == first.cert_pem


def test_a_new_key_that_nginx_refused_is_removed_and_the_old_one_served_again(
    tmp_path: Path,
) -> None:
    where = layout(tmp_path)
    old, new = self_signed([NAME]), self_signed([NAME])
    old_id, new_id = id_of_certificate(old.cert_pem), id_of_certificate(new.cert_pem)
    tls_files.write_certificate(where, old_id, old.cert_pem, old.key_pem, META)
    saved = tls_files.save(where, new_id)
    tls_files.write_certificate(where, new_id, new.cert_pem, new.key_pem, META)
    assert tls_files.installed_key_id(where) == new_id
    assert links(where) == {Path(f"key-{new_id}")}
    tls_files.restore(where, saved)
    assert tls_files.installed_key_id(where) == old_id
    assert links(where) == {Path(f"key-{old_id}")}  # the links were put back
    assert not where.tls_key_dir(new_id).exists()


def test_a_first_certificate_that_nginx_refused_leaves_the_placeholder_and_no_redirect(
    tmp_path: Path,
) -> None:
    where = layout(tmp_path)
    assert ensure_placeholder(where, [NAME], lambda key: None)
    placeholder = tls_files.served_key_id(where)
    assert placeholder is not None and tls_files.serves_placeholder(where)
    assert tls_files.installed_key_id(where) is None  # no real certificate: a new key
    assert tls_files.certificate_info(where) is None and not where.tls_redirect.exists()
    assert (where.tls_key_dir(placeholder) / "privkey.pem").stat().st_mode & 0o777 == 0o600
    real = self_signed([NAME])
    real_id = id_of_certificate(real.cert_pem)
    saved = tls_files.save(where, real_id)
    tls_files.write_certificate(where, real_id, real.cert_pem, real.key_pem, META)
    assert where.tls_redirect.exists() and tls_files.installed_key_id(where) == real_id
    tls_files.restore(where, saved)
    assert tls_files.serves_placeholder(where) and tls_files.served_key_id(where) == placeholder
    assert not where.tls_redirect.exists() and not where.tls_key_dir(real_id).exists()
    assert not ensure_placeholder(where, [NAME], lambda key: None)  # one is enough


def test_the_key_is_given_to_nginxs_workers_before_the_link_names_it(tmp_path: Path) -> None:
    where = layout(tmp_path)
    material = self_signed([NAME])
    key_id = id_of_certificate(material.cert_pem)
    seen: list[bool] = []
    tls_files.write_certificate(
        where,
        key_id,
        material.cert_pem,
        material.key_pem,
        META,
        lambda key: seen.append(key.exists() and not links(where)),
    )
    assert seen == [True]


def test_a_host_installed_before_the_live_links_gets_them_naming_the_same_key(
    tmp_path: Path,
) -> None:
    where = layout(tmp_path)
    material = self_signed([NAME])
    key_id = id_of_certificate(material.cert_pem)
    tls_files.write_certificate(where, key_id, material.cert_pem, material.key_pem, META)
    for link in where.tls_links:  # as the previous version left it: installed.json names it
        link.unlink()
    where.tls_redirect.unlink()
    assert tls_files.served_key_id(where) == key_id
    tls_files.settle_links(where)
    tls_files.ensure_redirect(where)
    assert links(where) == {Path(f"key-{key_id}")} and where.tls_redirect.exists()


def test_pruning_keeps_the_served_key_and_the_one_before_it(tmp_path: Path) -> None:
    where = layout(tmp_path)
    ids = []
    for _ in range(3):
        material = self_signed([NAME])
        ids.append(id_of_certificate(material.cert_pem))
        tls_files.write_certificate(where, ids[-1], material.cert_pem, material.key_pem, META)
    tls_files.prune_keys(where, {ids[2], ids[1]})
    assert sorted(p.name for p in where.tls_dir.glob("key-*")) == sorted(
        f"key-{i}" for i in ids[1:]
    )


def test_a_host_installed_before_key_directories_is_served_from_its_files_at_start(
    tmp_path: Path,
) -> None:
    where = layout(tmp_path)
    material = self_signed([NAME])
    where.tls_dir.mkdir(parents=True)
    where.tls_cert.write_text(material.cert_pem)
    where.tls_key.write_text(material.key_pem or "")
    served = tls_files.served(where)
    assert served is not None and not served.per_handshake and served.key_id is None
    info = tls_files.certificate_info(where)
    assert info is not None and info.key_id is None  # so the next renewal makes a new key


def test_the_request_signed_on_the_host_is_for_its_key_and_every_name(tmp_path: Path) -> None:
    material = self_signed([NAME])
    assert material.key_pem is not None
    names = [NAME, f"www.{NAME}"]
    csr = x509.load_pem_x509_csr(csr_pem(material.key_pem, names).encode())
    assert csr.is_signature_valid
    sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == names
    assert _id_of_public(csr) == id_of_key(material.key_pem)


def test_a_key_that_is_not_the_certificates_is_refused() -> None:
    ours, other = self_signed([NAME]), self_signed([NAME])
    assert other.key_pem is not None
    with pytest.raises(HostOpError, match="does not belong to the certificate"):
        tls_files.check_pair(ours.cert_pem, other.key_pem)


HTTPS = HttpsServer(
    listen="127.0.0.1:2",
    cert=Path("/srv/tls/live-a/fullchain.pem"),
    key=Path("/srv/tls/live-a/privkey.pem"),
    hsts=None,
    zone="shipyard_shop_production_tls",
    per_handshake=True,
    redirect_flag=Path("/srv/tls/redirect"),
    links=(Path("/srv/tls/live-a"), Path("/srv/tls/live-b")),
)


def block(tmp_path: Path, https: HttpsServer) -> ServerBlock:
    return ServerBlock(
        app="shop",
        env="production",
        listen="127.0.0.1:1",
        server_names=(NAME,),
        client_max_body_size="10m",
        access_log=tmp_path / "access.log",
        listen_mode="socket",
        current_socket=tmp_path / "current.sock",
        previous_socket=tmp_path / "previous.sock",
        route_link=tmp_path / "route",
        ports=(8001, 8002),
        https=https,
        challenges=tmp_path / "ch",
        plain_paths=("/healthz",),
    )


def test_nginx_is_told_to_load_one_live_link_by_its_clock_at_each_handshake_no_key_id(
    tmp_path: Path,
) -> None:
    text = render_server(block(tmp_path, HTTPS))
    assert (
        "map $msec $shipyard_shop_production_tls_files {\n"
        "    ~[.][0-4] /srv/tls/live-a;\n"
        "    default /srv/tls/live-b;\n}"
    ) in text
    assert "ssl_certificate $shipyard_shop_production_tls_files/fullchain.pem;" in text
    assert "ssl_certificate_key $shipyard_shop_production_tls_files/privkey.pem;" in text
    assert "key-" not in text  # a new key changes no configuration
    static = render_server(block(tmp_path, dataclasses.replace(HTTPS, per_handshake=False)))
    assert "map $" not in static
    assert "ssl_certificate /srv/tls/live-a/fullchain.pem;" in static


def test_plain_http_redirects_only_while_the_redirect_flag_exists_and_proxies_before(
    tmp_path: Path,
) -> None:
    text = render_server(block(tmp_path, HTTPS))
    plain = text.split("server {", 2)[1]  # the port-80 server
    location = plain.split("    location / {\n", 1)[1]
    assert location.startswith(
        "        if (-f /srv/tls/redirect) {\n"
        "            return 301 https://$host:2$request_uri;\n"
        "        }\n"
        "        proxy_pass http://shipyard_shop_production;\n"
    )
    acme = plain.split("location ^~ /.well-known/acme-challenge/ {", 1)[1].split("}", 1)[0]
    assert "return" not in acme  # never redirected
    always = render_server(block(tmp_path, dataclasses.replace(HTTPS, redirect_flag=None)))
    assert "    location / {\n        return 301 https://$host:2$request_uri;\n    }" in always


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_nginx_accepts_the_per_handshake_https_server(tmp_path: Path) -> None:
    material = self_signed([NAME])
    key_id = id_of_certificate(material.cert_pem)
    where = layout(tmp_path)
    tls_files.write_certificate(where, key_id, material.cert_pem, material.key_pem, META)
    served = tls_files.served(where)
    assert served is not None
    https = dataclasses.replace(HTTPS, cert=served.cert, key=served.key, links=where.tls_links)
    (tmp_path / "ch").mkdir()
    (tmp_path / "server.conf").write_text(render_server(block(tmp_path, https)))
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


def test_the_site_names_the_same_live_link_for_the_placeholder_and_the_certificate(
    tmp_path: Path,
) -> None:
    where = layout(tmp_path)
    spec = ProxySpec(
        mode="managed",
        binary="nginx",
        listen="127.0.0.1:1",
        server_names=[NAME],
        client_max_body_size="10m",
        listen_mode="socket",
        include_dir=None,
        worker_user=None,
        pid_file="",
        drain_timeout=1.0,
        local_host=True,
        tls=TlsSpec(listen="127.0.0.1:2", hsts=None, plain_paths=[]),
    )
    first = https_parts(where, spec)["https"]  # nothing installed yet: the placeholder
    assert first.per_handshake and first.links == where.tls_links
    assert first.redirect_flag == where.tls_redirect and not where.tls_redirect.exists()
    assert tls_files.serves_placeholder(where)
    material = self_signed([NAME])
    key_id = id_of_certificate(material.cert_pem)
    tls_files.write_certificate(where, key_id, material.cert_pem, material.key_pem, META)
    assert https_parts(where, spec)["https"] == first  # the same site: no reload
    assert links(where) == {Path(f"key-{key_id}")} and where.tls_redirect.exists()


def _issue_for(material: object, names: list[str]) -> str:
    """A new certificate for the same key (what an ACME server returns for a kept key)."""
    import datetime

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key_pem = getattr(material, "key_pem")
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _id_of_public(csr: x509.CertificateSigningRequest) -> str:
    import hashlib

    from cryptography.hazmat.primitives import serialization

    der = csr.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:16]


def call(root: Path, op: str, **fields: object) -> dict[str, object]:
    from shipyard.host.agent import run

    return run(op, {"root": str(root), "app": "shop", "env": "production", **fields})


def test_the_host_signs_a_renewals_request_only_with_the_key_it_serves(tmp_path: Path) -> None:
    where = Layout(tmp_path, "shop", "production")
    material = self_signed([NAME])
    key_id = id_of_certificate(material.cert_pem)
    refused = call(tmp_path, "tls-csr", names=[NAME], key_id=key_id)
    assert not refused["ok"] and "--new-key" in str(refused["hint"])
    tls_files.write_certificate(where, key_id, material.cert_pem, material.key_pem, META)
    signed = call(tmp_path, "tls-csr", names=[NAME], key_id=key_id)
    assert signed["ok"], signed
    csr_text = str(signed["csr_pem"])
    assert "PRIVATE KEY" not in csr_text
    assert _id_of_public(x509.load_pem_x509_csr(csr_text.encode())) == key_id
    other = call(tmp_path, "tls-csr", names=[NAME], key_id="0" * 16)
    assert not other["ok"] and "does not serve the private key" in str(other["error"])


def test_installing_for_a_kept_key_the_host_does_not_hold_changes_nothing(
    tmp_path: Path,
) -> None:
    from shipyard.protocol.codec import encode

    where = Layout(tmp_path, "shop", "production")
    spec = ProxySpec(
        mode="managed",
        binary="nginx",
        listen="127.0.0.1:1",
        server_names=[NAME],
        client_max_body_size="10m",
        listen_mode="socket",
        include_dir=None,
        worker_user=None,
        pid_file="",
        drain_timeout=1.0,
        local_host=True,
        tls=TlsSpec(listen="127.0.0.1:2", hsts=None, plain_paths=[]),
    )
    material = self_signed([NAME])
    refused = call(
        tmp_path,
        "tls-install",
        proxy=encode(spec),
        cert_pem=material.cert_pem,
        key_pem=None,
        source="acme",
        renewed_at=1.0,
        ports=[8001, 8002],
    )
    assert not refused["ok"] and "does not hold the private key" in str(refused["error"])
    assert not where.tls_dir.exists()


def test_a_host_serving_the_placeholder_is_shown_pending_and_due() -> None:
    from shipyard.execute.tls import PENDING, _views
    from shipyard.plan.tls import Wanted
    from shipyard.protocol.tls import InspectReply

    want = Wanted(names=[NAME], source="acme", renew_before_days=30)
    (view,) = _views({"web1": InspectReply(certificate=None, placeholder=True)}, want, 0.0)
    assert (
        view.problem == PENDING == "pending: placeholder self-signed, no certificate obtained yet"
    )
    assert view.due == "no certificate installed"  # so the deploy's tls step obtains one
