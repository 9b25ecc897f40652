"""pip-audit fails fast when its service is unreachable, and reuses a report for the same
lock files for `cache_for` seconds. The services here are loopback sockets."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.config.gates import PipAuditGate
from shipyard.gates import audit_cache, pipaudit, reachability
from shipyard.gates.process import Outcome

CLEAN_REPORT = json.dumps(
    {"dependencies": [{"name": "requests", "version": "2.32.4", "vulns": []}], "fixes": []}
)


class SilentServer:
    """Accepts connections and never answers; counts them."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.accepted = 0
        self.held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1/query"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.held.append(conn)

    def close(self) -> None:
        for conn in self.held:
            conn.close()
        self.sock.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture
def app(tmp_path: Path) -> Path:
    directory = tmp_path / "app"
    directory.mkdir()
    (directory / "requirements.txt").write_text("requests==2.32.4\n")
    return directory


@pytest.fixture
def audits(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """pip-audit itself, faked: every run is recorded and reports no vulnerability."""
    runs: list[list[str]] = []

    def fake_run(argv: Any, cwd: Path, timeout: float, **kwargs: Any) -> Outcome:
        runs.append(list(argv))
        return Outcome(returncode=0, stdout=CLEAN_REPORT, stderr="", duration_s=0.1)

    monkeypatch.setattr(pipaudit, "run_process", fake_run)
    return runs


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/query"


def osv(url: str, **extra: Any) -> PipAuditGate:
    return PipAuditGate.model_validate({"service": "osv", "osv_url": url, **extra})


def test_a_service_that_accepts_but_never_answers_is_unknown_after_one_attempt(
    app: Path, silent: SilentServer, audits: list[list[str]], tmp_path: Path
) -> None:
    result = pipaudit.run_pip_audit(app, osv(silent.url, connect_timeout=0.5), tmp_path / "c")
    assert result.status == "unknown" and not result.ok
    assert "could not be reached" in result.summary and "one attempt" in result.summary
    assert silent.accepted == 1  # one request for the whole run, not one per package
    assert audits == []  # pip-audit was not started against a dead service


def test_a_closed_port_is_unknown_at_once_and_pip_audit_does_not_run(
    app: Path, audits: list[list[str]], tmp_path: Path
) -> None:
    result = pipaudit.run_pip_audit(app, osv(closed_port_url()), tmp_path / "c")
    assert result.status == "unknown"
    assert "could not be reached" in result.summary
    assert audits == []


def test_a_service_that_answers_even_with_an_error_status_counts_as_reachable() -> None:
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class NotAllowed(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(405)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), NotAllowed)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1/query"
        assert reachability.unreachable(url, 5) is None
    finally:
        thread.join(5)
        server.server_close()


def reachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reachability, "unreachable", lambda url, timeout: None)


def test_a_report_is_reused_for_the_same_lock_file_and_not_for_a_changed_one(
    app: Path, audits: list[list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reachable(monkeypatch)
    config = osv("http://127.0.0.1:1/v1/query", cache_for=3600)
    cache = tmp_path / "cache"
    first = pipaudit.run_pip_audit(app, config, cache)
    again = pipaudit.run_pip_audit(app, config, cache)
    assert first.status == again.status == "pass"
    assert len(audits) == 1
    assert again.details["cached"] is True and "same lock files" in again.summary
    (app / "requirements.txt").write_text("requests==2.32.5\n")
    changed = pipaudit.run_pip_audit(app, config, cache)
    assert len(audits) == 2 and "cached" not in changed.details


def test_without_cache_for_every_run_audits(
    app: Path, audits: list[list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reachable(monkeypatch)
    config = osv("http://127.0.0.1:1/v1/query")
    for _ in range(2):
        pipaudit.run_pip_audit(app, config, tmp_path / "cache")
    assert len(audits) == 2


def test_an_unknown_result_is_never_kept(
    app: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = osv(closed_port_url(), cache_for=3600)
    pipaudit.run_pip_audit(app, config, tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.json"))


def test_a_kept_report_expires_after_cache_for_seconds() -> None:
    kept = audit_cache.Cached(returncode=0, stdout="", stderr="", audited_at=1000.0)
    assert audit_cache.fresh(kept, 600, now=1500.0)
    assert not audit_cache.fresh(kept, 600, now=1601.0)
    assert not audit_cache.fresh(kept, 0, now=1000.0)
    assert not audit_cache.fresh(kept, 600, now=900.0)  # written "in the future": no


def test_the_digest_covers_the_files_the_service_and_resolve(app: Path) -> None:
    base = audit_cache.lock_digest(app, ["requirements.txt"], PipAuditGate())
    assert base == audit_cache.lock_digest(app, ["requirements.txt"], PipAuditGate())
    assert base != audit_cache.lock_digest(app, ["requirements.txt"], PipAuditGate(service="osv"))
    assert base != audit_cache.lock_digest(app, ["requirements.txt"], PipAuditGate(resolve=True))
