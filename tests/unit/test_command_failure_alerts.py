"""A command's own failures as alerts: a TLS renewal that failed names the certificate's
names, the hosts, the ACME server's error and what to run; a failed backup names its
sources, the error and what to run."""

from __future__ import annotations

from shipyard.errors import ShipyardError
from shipyard.serve.alerts import AlertKind, format_alert
from shipyard.serve.command_failures import backup_failed_alert, tls_renewal_alert


def test_a_failed_renewal_names_the_names_hosts_acme_error_and_what_to_run() -> None:
    error = ShipyardError(
        "validation failed for bad.example.com: connection refused",
        hint="check that bad.example.com points at the hosts",
    )
    alert = tls_renewal_alert(
        "prod", ["web1", "web2"], ["shop.example.com", "bad.example.com"], error, now=100.0
    )
    assert alert.kind is AlertKind.TLS_RENEWAL_FAILED
    title, body = format_alert(alert)
    assert title == (
        "[TLS RENEWAL FAILED] prod: certificate for shop.example.com, bad.example.com "
        "was not renewed"
    )
    assert "Where: prod: web1, web2" in body
    assert "error: validation failed for bad.example.com: connection refused" in body
    assert "what to do: check that bad.example.com points at the hosts" in body
    assert "shipyard tls renew prod" in body


def test_a_failed_backup_names_its_sources_the_error_and_what_to_run() -> None:
    error = ShipyardError("pg_dump failed: password authentication failed")
    alert = backup_failed_alert("prod", ["db"], error, now=100.0)
    assert alert.kind is AlertKind.BACKUP_FAILED
    title, body = format_alert(alert)
    assert title == "[BACKUP FAILED] prod: backup of db failed"
    assert "error: pg_dump failed: password authentication failed" in body
    assert "shipyard backup run prod" in body
    assert "what to do" not in body  # no hint given, none invented


def test_a_failed_backup_of_every_source_says_backup_failed() -> None:
    alert = backup_failed_alert("prod", [], ShipyardError("restic: repository locked"))
    assert alert.what == "backup failed"
