"""`gates:` in shipyard.yml: defaults, validation, environment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from shipyard.config.errors import ConfigError
from shipyard.config.gates import BanditGate, GatesConfig, PipAuditGate
from shipyard.config.loader import ConfigFile

BASE = """\
app: demo
start: python3 app.py
gates:
  commands:
    - name: tests
      run: pytest -q
  bandit:
    exclude: [tests]
environments:
  staging:
    hosts: [local]
  production:
    hosts: [local]
    gates:
      bandit:
        severity: high
      pip_audit:
        ignore: [PYSEC-2018-28]
"""


def load(tmp_path: Path, text: str) -> ConfigFile:
    path = tmp_path / "shipyard.yml"
    path.write_text(text)
    return ConfigFile.load(path)


def test_defaults_turn_the_security_gates_on():
    gates = GatesConfig()
    assert gates.commands == []
    assert gates.pip_audit.enabled and gates.pip_audit.requirements == ["requirements.txt"]
    assert gates.pip_audit.on_unknown == "fail"
    assert gates.pip_audit.service == "pypi" and not gates.pip_audit.resolve
    assert gates.bandit.enabled and gates.bandit.paths == ["."]
    assert (gates.bandit.severity, gates.bandit.confidence) == ("medium", "medium")
    assert gates.bandit.on_unknown == "fail"
    assert not gates.pip_audit.requirements_given()
    assert PipAuditGate(requirements=["requirements.txt"]).requirements_given()


def test_environment_overrides_merge_into_the_base(tmp_path: Path):
    config = load(tmp_path, BASE)
    staging = config.environment("staging").gates
    production = config.environment("production").gates
    assert [c.name for c in staging.commands] == ["tests"]
    assert staging.bandit.severity == "medium"
    assert production.bandit.severity == "high"
    assert production.bandit.exclude == ["tests"]  # kept from the base
    assert production.pip_audit.ignore == ["PYSEC-2018-28"]
    assert staging.pip_audit.ignore == []


def test_pip_audit_severity_is_refused_with_the_reason():
    with pytest.raises(ValidationError) as caught:
        PipAuditGate.model_validate({"severity": "high"})
    assert "pip-audit reports no severities" in str(caught.value)
    assert "ignore" in str(caught.value)


def test_severity_error_points_at_the_line(tmp_path: Path):
    text = BASE.replace("        ignore: [PYSEC-2018-28]", "        severity: high")
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text).environment("production")
    assert "no severity threshold" in str(caught.value)
    assert caught.value.key_path == "environments.production.gates.pip_audit.severity"
    assert caught.value.line == 18


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"osv_url": "http://127.0.0.1:1/v1/query"}, "only with service: osv"),
        ({"service": "osv", "osv_url": "ftp://x"}, "http(s) URL"),
        ({"requirements": ["/etc/requirements.txt"]}, "relative path"),
        ({"requirements": ["../requirements.txt"]}, "relative path"),
        ({"ignore": ["not an id"]}, "not a vulnerability id"),
        ({"on_unknown": "pass"}, "on_unknown"),
        ({"timeout": 0}, "timeout"),
    ],
)
def test_pip_audit_validation(data: dict[str, object], message: str):
    with pytest.raises(ValidationError) as caught:
        PipAuditGate.model_validate(data)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"severity": "critical"}, "severity"),
        ({"confidence": "certain"}, "confidence"),
        ({"skip": ["101"]}, "not a bandit test id"),
        ({"paths": ["/srv/app"]}, "relative path"),
        ({"exclude": ["/abs"]}, "relative to the app"),
        ({"level": "high"}, "Extra inputs"),
    ],
)
def test_bandit_validation(data: dict[str, object], message: str):
    with pytest.raises(ValidationError) as caught:
        BanditGate.model_validate(data)
    assert message in str(caught.value)


def test_command_names_are_unique_and_not_built_in():
    with pytest.raises(ValidationError, match="two commands are named 'lint'"):
        GatesConfig.model_validate(
            {"commands": [{"name": "lint", "run": "a"}, {"name": "lint", "run": "b"}]}
        )
    with pytest.raises(ValidationError, match="built-in gate"):
        GatesConfig.model_validate({"commands": [{"name": "bandit", "run": "bandit -r ."}]})


def test_unknown_gate_key_is_an_error(tmp_path: Path):
    with pytest.raises(ConfigError) as caught:
        load(
            tmp_path, BASE.replace("  bandit:\n    exclude", "  bandits:\n    exclude")
        ).environment("staging")
    assert caught.value.key_path == "gates.bandits"
    assert caught.value.line == 7
