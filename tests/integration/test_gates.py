"""Real pip-audit and bandit on small fixture apps, and `shipyard gates` exit codes.

pip-audit asks a vulnerability service. The public ones are not reachable from every test
machine, so most tests point it (`service: osv`, `osv_url`) at a loopback stand-in that
answers from recorded advisories (tests/support/gates_fixtures/osv_server.py); one test
puts the default PyPI service behind a proxy that refuses connections: unknown, never pass.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from support.gates_fixtures.osv_server import OsvServer, osv_server
from typer.testing import CliRunner

from shipyard.cli.gates_cmd import register
from shipyard.config.gates import BanditGate, GatesConfig, PipAuditGate
from shipyard.errors import ExitCode
from shipyard.gates import run_gates
from shipyard.gates.bandit import run_bandit
from shipyard.gates.pipaudit import run_pip_audit

pytestmark = pytest.mark.timeout(120)

APPS = Path(__file__).resolve().parents[1] / "support" / "gates_fixtures" / "apps"
CLOSED_PORT_URL = "http://127.0.0.1:9/v1/query"


@pytest.fixture(scope="module")
def osv() -> Iterator[OsvServer]:
    with osv_server() as server:
        yield server


def app(tmp_path: Path, *names: str) -> Path:
    """A copy of one or more fixture apps merged into one directory."""
    target = tmp_path / "app"
    for name in names:
        shutil.copytree(APPS / name, target, dirs_exist_ok=True)
    return target


def audit(osv: OsvServer, **extra: Any) -> PipAuditGate:
    return PipAuditGate.model_validate({"service": "osv", "osv_url": osv.url, **extra})


# -- pip-audit ----------------------------------------------------------------------------


def test_vulnerable_pin_fails_pip_audit(tmp_path: Path, osv: OsvServer):
    result = run_pip_audit(app(tmp_path, "vulnerable"), audit(osv))
    assert result.status == "fail", result.summary
    ids = {v["id"] for v in result.details["vulnerabilities"]}
    assert ids == {"PYSEC-2018-28", "PYSEC-2023-74"}
    assert {"package": {"name": "requests", "ecosystem": "PyPI"}, "version": "2.19.1"} in (
        osv.queries
    )
    assert not result.ok


def test_safe_pin_passes_pip_audit(tmp_path: Path, osv: OsvServer):
    result = run_pip_audit(app(tmp_path, "safe"), audit(osv))
    assert result.status == "pass", result.summary
    assert result.summary == "1 package audited, no known vulnerabilities"


def test_the_default_service_unreachable_is_unknown_and_fails_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The default service (PyPI's vulnerability data) behind a proxy that refuses every
    connection: offline, a vulnerable pin is "unknown", never "pass". (That a
    vulnerability found fails the gate: the loopback OSV tests above.)"""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, CLOSED_PORT_URL.removesuffix("/v1/query"))
    config = PipAuditGate(timeout=60)
    assert config.service == "pypi"
    result = run_pip_audit(app(tmp_path, "vulnerable"), config)
    assert result.status == "unknown", result.summary
    assert "could not be reached" in result.summary
    assert not result.ok


def test_unreachable_service_is_unknown_and_fails_closed(tmp_path: Path):
    config = PipAuditGate(service="osv", osv_url=CLOSED_PORT_URL)
    result = run_pip_audit(app(tmp_path, "safe"), config)
    assert result.status == "unknown"
    assert "could not be reached" in result.summary
    assert not result.ok


def test_service_error_is_unknown(tmp_path: Path):
    with osv_server() as broken:
        broken.mode = "error"
        result = run_pip_audit(app(tmp_path, "vulnerable"), audit(broken))
    assert result.status == "unknown", result.summary
    assert not result.ok


def test_unpinned_requirement_is_unknown(tmp_path: Path, osv: OsvServer):
    directory = app(tmp_path, "safe")
    (directory / "requirements.txt").write_text("requests>=2.20\n")
    result = run_pip_audit(directory, audit(osv))
    assert result.status == "unknown"
    assert "not pinned" in result.summary


# -- bandit -------------------------------------------------------------------------------


def test_unsafe_call_fails_bandit_at_medium(tmp_path: Path):
    directory = app(tmp_path, "unsafe")
    result = run_bandit(directory, BanditGate())
    assert result.status == "fail", result.summary
    assert [f["test_id"] for f in result.details["findings"]] == ["B307"]
    assert result.details["findings"][0]["file"] == "app.py"

    high = run_bandit(directory, BanditGate(severity="high"))
    assert high.status == "pass", high.summary
    assert high.details["below_threshold"] == 2

    skipped = run_bandit(directory, BanditGate(skip=["B307"]))
    assert skipped.status == "pass", skipped.summary


def test_clean_code_passes_bandit_and_the_venv_is_not_scanned(tmp_path: Path):
    directory = app(tmp_path, "clean")
    venv = directory / ".venv" / "lib"
    venv.mkdir(parents=True)
    (venv / "vendored.py").write_text("eval(input())\n")
    result = run_bandit(directory, BanditGate())
    assert result.status == "pass", result.summary
    assert result.details["files"] == 1


def test_source_bandit_cannot_parse_is_unknown(tmp_path: Path):
    directory = app(tmp_path, "clean")
    (directory / "broken.py").write_text("def broken(:\n")
    result = run_bandit(directory, BanditGate())
    assert result.status == "unknown", result.summary
    assert "broken.py" in result.summary


def test_all_gates_together(tmp_path: Path, osv: OsvServer):
    directory = app(tmp_path, "vulnerable", "unsafe")
    config = GatesConfig.model_validate(
        {
            "commands": [
                {"name": "tests", "run": "echo '2 passed'"},
                {"name": "lint", "run": "echo 'app.py:5: unused import' && false"},
            ],
            "pip_audit": {"service": "osv", "osv_url": osv.url},
        }
    )
    report = run_gates(directory, config)
    statuses = {r.name: r.status for r in report.results}
    assert statuses == {"tests": "pass", "lint": "fail", "pip-audit": "fail", "bandit": "fail"}
    assert not report.passed


# -- `shipyard gates` ----------------------------------------------------------------------


def cli() -> typer.Typer:
    app = typer.Typer(add_completion=False)

    @app.callback()
    def main() -> None:
        """Test harness."""

    register(app)
    return app


def write_config(directory: Path, gates: dict[str, Any], **envs: dict[str, Any]) -> Path:
    path = directory / "shipyard.yml"
    data = {
        "app": "demo",
        "start": "python3 app.py",
        "gates": gates,
        "environments": {"staging": {"hosts": ["local"]}, **envs},
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(cli(), ["gates", *args], catch_exceptions=False)


def test_cli_passes_with_exit_0(tmp_path: Path, osv: OsvServer):
    directory = app(tmp_path, "safe", "clean")
    config = write_config(directory, {"pip_audit": {"service": "osv", "osv_url": osv.url}})
    result = run_cli("--config", str(config))
    assert result.exit_code == 0, result.output
    assert "pip-audit" in result.stdout and "bandit" in result.stdout
    assert "gates passed" in result.stdout


def test_cli_fails_with_exit_6_and_json(tmp_path: Path, osv: OsvServer):
    directory = app(tmp_path, "safe", "unsafe")
    config = write_config(
        directory,
        {
            "commands": [{"name": "tests", "run": "exit 1"}],
            "pip_audit": {"service": "osv", "osv_url": osv.url},
        },
    )
    result = run_cli("--config", str(config), "--json")
    assert result.exit_code == ExitCode.GATES == 6
    data = json.loads(result.stdout)
    assert data["passed"] is False
    assert {g["name"]: g["status"] for g in data["gates"]} == {
        "tests": "fail",
        "pip-audit": "pass",
        "bandit": "fail",
    }
    assert "gates failed: tests (fail), bandit (fail)" in result.stderr


def test_cli_environment_overrides_and_skip_optional(tmp_path: Path):
    directory = app(tmp_path, "unsafe")
    config = write_config(
        directory,
        {"commands": [{"name": "e2e", "run": "exit 1", "optional": True}]},
        production={"hosts": ["local"], "gates": {"bandit": {"severity": "high"}}},
    )
    assert run_cli("--config", str(config), "--skip-optional").exit_code == 6  # base: medium
    result = run_cli("production", "--config", str(config), "--skip-optional")
    assert result.exit_code == 0, result.output
    assert run_cli("production", "--config", str(config)).exit_code == 6  # e2e runs


def test_cli_unknown_with_warn_exits_0_and_still_says_unknown(tmp_path: Path):
    directory = app(tmp_path, "safe")
    unreachable = {"service": "osv", "osv_url": CLOSED_PORT_URL, "on_unknown": "warn"}
    config = write_config(directory, {"pip_audit": unreachable})
    result = run_cli("--config", str(config), "--json")
    assert result.exit_code == 0, result.output
    (audit_result,) = [g for g in json.loads(result.stdout)["gates"] if g["name"] == "pip-audit"]
    assert audit_result["status"] == "unknown" and audit_result["ok"] is True


def test_cli_bad_configuration_exits_2(tmp_path: Path):
    directory = app(tmp_path, "clean")
    config = write_config(directory, {"pip_audit": {"severity": "high"}})
    result = run_cli("--config", str(config))
    assert result.exit_code == ExitCode.CONFIG == 2
    assert "gates.pip_audit.severity" in result.stderr
    assert run_cli("nowhere", "--config", str(config)).exit_code == 2
    assert run_cli("--config", str(tmp_path / "missing.yml")).exit_code == 2
