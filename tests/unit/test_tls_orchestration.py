"""`tls renew` across hosts, against recording fake hosts: what each host is asked, in
which order, and what a failure does (the real hosts: tests/integration/test_tls_*)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from support.fakehost import FakeFleet

from shipyard.config.loader import ConfigFile
from shipyard.errors import ShipyardError
from shipyard.execute import tls
from shipyard.execute.hostclient import HostError
from shipyard.execute.reporter import SilentReporter
from shipyard.execute.session import PhaseFailed
from shipyard.execute.tls_material import self_signed
from shipyard.protocol.op import Empty
from shipyard.protocol.tls import CertificateInfo, CsrReply, InspectReply, InstallReply

CONFIG = """\
app: shop
start: python3 app.py
nginx: {listen: "0.0.0.0:80", server_names: [shop.example.com]}
environments:
  production:
    hosts: [deploy@10.0.0.6, deploy@10.0.0.7]
    tls: {mode: self-signed}
"""
HOSTS = ["deploy@10.0.0.6", "deploy@10.0.0.7"]


def installed(request: Any) -> InstallReply:
    info = CertificateInfo(["shop.example.com"], "CN=x", 0.0, 9e9, "1", "self-signed", 1.0, "0600")
    return InstallReply(certificate=info, reloaded=True)


def renew(tmp_path: Path, fleet: FakeFleet, force: bool = False) -> tls.RenewResult:
    path = tmp_path / "shipyard.yml"
    path.write_text(CONFIG)
    env = ConfigFile.load(path).environment("production")
    return asyncio.run(
        tls.renew(env, {}, tmp_path, SilentReporter(), force=force, hosts=fleet.factory)
    )


def fleet_without_certificates() -> FakeFleet:
    fleet = FakeFleet()
    for host in HOSTS:
        fleet.answer("production", host, "tls-inspect", lambda r: InspectReply(certificate=None))
        fleet.answer("production", host, "tls-install", installed)
    return fleet


def test_a_missing_certificate_is_made_once_and_installed_on_every_host_under_the_lock(
    tmp_path: Path,
) -> None:
    fleet = fleet_without_certificates()
    result = renew(tmp_path, fleet)
    assert result.renewed and result.reason == "deploy@10.0.0.6: no certificate installed"
    primary = [op for op in fleet.ops(HOSTS[0]) if op not in ("connect", "hello")]
    assert primary[0] == "lock-acquire" and primary[-1] == "lock-release"
    assert primary.index("tls-inspect") < primary.index("tls-install")
    installs = [c.request for c in fleet.calls("tls-install")]
    assert [c.host for c in fleet.calls("tls-install")] == HOSTS
    assert len({r.cert_pem for r in installs}) == 1  # one certificate for all hosts
    assert all(r.key_pem.startswith("-----BEGIN PRIVATE KEY") for r in installs)
    assert "PRIVATE KEY" not in repr(self_signed(["a.example.com"]))  # never shown


def test_a_failed_install_is_an_error_naming_the_host_and_tells_the_alert_hook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = fleet_without_certificates()
    fleet.fail("production", HOSTS[1], "tls-install", "nginx refused the new certificate")
    told: list[tuple[str, ShipyardError]] = []
    monkeypatch.setattr(
        tls, "RENEWAL_FAILURE_LISTENERS", [lambda env, error: told.append((env.name, error))]
    )
    with pytest.raises(PhaseFailed) as failed:
        renew(tmp_path, fleet)
    assert [e.host for e in failed.value.errors] == [HOSTS[1]]
    assert isinstance(failed.value.errors[0], HostError)
    assert [name for name, _ in told] == ["production"]
    assert fleet.ops(HOSTS[0])[-1] == "lock-release"  # the lock is released on failure


def test_nothing_is_asked_of_the_hosts_when_no_certificate_is_due(tmp_path: Path) -> None:
    fleet = FakeFleet()
    fresh = installed(None).certificate
    for host in HOSTS:
        fleet.answer("production", host, "tls-inspect", lambda r: InspectReply(certificate=fresh))
    result = renew(tmp_path, fleet)
    assert not result.renewed and fleet.calls("tls-install") == []
    forced = renew(tmp_path, fleet_forced := fleet_with(fresh), force=True)
    assert forced.renewed and len(fleet_forced.calls("tls-install")) == 2


def fleet_with(cert: CertificateInfo) -> FakeFleet:
    fleet = FakeFleet()
    for host in HOSTS:
        fleet.answer("production", host, "tls-inspect", lambda r: InspectReply(certificate=cert))
        fleet.answer("production", host, "tls-install", installed)
    return fleet


ACME_CONFIG = CONFIG.replace(
    "tls: {mode: self-signed}",
    "tls: {mode: acme, acme: {directory: 'https://acme.test/dir'}}",
)


def acme_renew(
    tmp_path: Path, fleet: FakeFleet, monkeypatch: pytest.MonkeyPatch, **options: Any
) -> tuple[tls.RenewResult, list[bytes]]:
    """`tls renew` in acme mode with the ACME server replaced: it records each CSR and
    answers with a certificate (any will do: the fake hosts do not check it)."""
    from shipyard.execute import acme_client

    csrs: list[bytes] = []

    def start_order(directory: str, email: Any, names: Any, csr: bytes, ca: Any) -> Any:
        csrs.append(csr)
        return acme_client.Order(client=None, order=None, challenges=[])

    monkeypatch.setattr(acme_client, "start_order", start_order)
    monkeypatch.setattr(
        acme_client, "answer_and_finish", lambda *a: self_signed(["shop.example.com"]).cert_pem
    )
    path = tmp_path / "shipyard.yml"
    path.write_text(ACME_CONFIG)
    env = ConfigFile.load(path).environment("production")
    result = asyncio.run(
        tls.renew(env, {}, tmp_path, SilentReporter(), hosts=fleet.factory, **options)
    )
    return result, csrs


def acme_fleet(key_ids: list[str | None]) -> FakeFleet:
    fleet = FakeFleet()
    for host, key_id in zip(HOSTS, key_ids, strict=True):
        held = installed(None).certificate
        held = CertificateInfo(**{**held.__dict__, "source": "acme", "key_id": key_id})
        fleet.answer("production", host, "tls-inspect", lambda r, c=held: InspectReply(c))
        fleet.answer("production", host, "tls-install", installed)
        fleet.answer("production", host, "tls-challenge", lambda r: Empty())
        fleet.answer("production", host, "tls-csr", lambda r: CsrReply(csr_pem="CSR FROM HOST"))
    return fleet


def test_a_renewal_has_the_primary_sign_for_the_key_every_host_keeps_and_sends_no_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = acme_fleet(["0123456789abcdef", "0123456789abcdef"])
    result, csrs = acme_renew(tmp_path, fleet, monkeypatch, force=True)
    assert result.key == "kept (every host holds it)"
    (csr,) = fleet.calls("tls-csr")
    assert csr.host == HOSTS[0] and csr.request.key_id == "0123456789abcdef"
    assert csrs == [b"CSR FROM HOST"]  # the order was made with the host's request
    installs = [c.request for c in fleet.calls("tls-install")]
    assert len(installs) == 2 and all(r.key_pem is None for r in installs)


def test_hosts_holding_different_keys_or_a_new_key_asked_for_get_one_new_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key_ids, options in (
        (["0123456789abcdef", "fedcba9876543210"], {"force": True}),
        (["0123456789abcdef", "0123456789abcdef"], {"new_key": True}),
    ):
        fleet = acme_fleet(key_ids)
        result, csrs = acme_renew(tmp_path, fleet, monkeypatch, **options)
        assert result.renewed and result.key.startswith("new (")
        assert fleet.calls("tls-csr") == [] and len(csrs) == 1
        keys = {c.request.key_pem for c in fleet.calls("tls-install")}
        assert len(keys) == 1 and next(iter(keys)).startswith("-----BEGIN PRIVATE KEY")
