"""shipyard.yml's `checks:`, `maintenance:`, `slo:`, `alerts:` and `serve:` sections."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.config.errors import ConfigError
from shipyard.config.observe import HeartbeatProbe, HttpProbe, TcpProbe, TlsProbe
from shipyard.config.shipyard_config import ShipyardConfig

BASE = """\
app: reconcile
start: python3 app.py
secrets:
  BEAT: {from_env: SHIPYARD_TEST_BEAT}
alerts:
  channels: [SLACK]
  remind_every: 1800
serve:
  listen: 127.0.0.1:8401
  secrets:
    SLACK: {from_env: SHIPYARD_TEST_SLACK}
environments:
  staging:
    hosts: [local]
  production:
    hosts: [deploy@10.0.0.6]
    slo: {target: 99.5}
    checks:
      - {name: home, path: /, contains: Welcome, max_ms: 500}
      - {name: api, url: "https://api.example.test/status", json_path: db.ok, equals: true}
      - {name: db, kind: tcp, address: "10.0.0.9:5432", fail_after: 5}
      - {name: cert, kind: tls, address: example.test, days_left: 21}
      - {name: nightly, kind: heartbeat, every_minutes: 1440, token_secret: BEAT}
    maintenance:
      - {cron: "0 3 * * 0", minutes: 30, reason: weekly patching}
      - {start: "2026-12-24T00:00:00Z", end: "2026-12-24T06:00:00Z", checks: [db]}
"""


def load(tmp_path: Path, text: str) -> ShipyardConfig:
    path = tmp_path / "shipyard.yml"
    path.write_text(text)
    return ShipyardConfig.load(path)


def test_every_check_kind_is_read_with_its_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, BASE)
    home, api, db, cert, nightly = config.checks("production")
    assert isinstance(home, HttpProbe) and (home.path, home.max_ms, home.interval) == ("/", 500, 60)
    assert isinstance(api, HttpProbe) and (api.json_path, api.equals) == ("db.ok", True)
    assert isinstance(db, TcpProbe) and (db.fail_after, db.resolve_after) == (5, 2)
    assert isinstance(cert, TlsProbe) and cert.address == "example.test:443"
    assert isinstance(nightly, HeartbeatProbe) and nightly.token_secret == "BEAT"
    assert config.environments["production"].slo.target == 99.5
    assert len(config.environments["production"].maintenance) == 2


def test_an_environment_without_checks_gets_its_health_path_through_nginx(tmp_path: Path) -> None:
    config = load(tmp_path, BASE)
    (health,) = config.checks("staging")
    assert isinstance(health, HttpProbe)
    assert (health.name, health.path, health.url) == ("health", "/healthz", None)
    assert config.environments["staging"].slo.target == 99.9


def test_alerts_and_serve_are_read_once_from_the_top_level(tmp_path: Path) -> None:
    config = load(tmp_path, BASE)
    assert config.alerts.channels == ["SLACK"]
    assert config.alerts.remind_every == 1800
    assert config.alerts.from_commands == "auto"
    assert config.serve.base_url == "http://127.0.0.1:8401"


def test_serves_secrets_are_not_given_to_the_environments(tmp_path: Path) -> None:
    config = load(tmp_path, BASE)
    assert set(config.environments["production"].secrets) == {"BEAT"}


def test_an_alert_channel_is_read_from_its_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_TEST_SLACK", "json://127.0.0.1:9/hook")
    config = load(tmp_path, BASE)
    assert config.secret("SLACK", "alerts.channels") == "json://127.0.0.1:9/hook"


def test_an_alert_channel_naming_no_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="names secret TEAMS"):
        load(tmp_path, BASE.replace("channels: [SLACK]", "channels: [TEAMS]"))


def test_alerts_inside_an_environment_are_refused_with_where_they_belong(tmp_path: Path) -> None:
    text = BASE.replace("    slo: {target: 99.5}", "    alerts: {channels: [SLACK]}")
    with pytest.raises(ConfigError, match="set once, at the top level"):
        load(tmp_path, text)


@pytest.mark.parametrize(
    ("check", "problem"),
    [
        ("{name: a, path: /, url: 'http://x.test/'}", "exactly one of url"),
        ("{name: a, path: health}", "must start with '/'"),
        ("{name: a, kind: tcp, address: db}", "host:port"),
        ("{name: a, kind: heartbeat, every_minutes: 5, token_secret: NOPE}", "not in secrets"),
        ("{name: A!, path: /}", "lowercase"),
        ("{name: a, path: /, equals: 1}", "equals needs json_path"),
    ],
)
def test_a_wrong_check_is_refused_naming_the_problem(
    tmp_path: Path, check: str, problem: str
) -> None:
    text = BASE.replace(
        "      - {name: home, path: /, contains: Welcome, max_ms: 500}", f"      - {check}"
    )
    with pytest.raises(ConfigError, match=problem):
        load(tmp_path, text)


def test_two_checks_of_one_name_are_refused(tmp_path: Path) -> None:
    text = BASE.replace("name: api,", "name: home,")
    with pytest.raises(ConfigError, match="two checks are named 'home'"):
        load(tmp_path, text)


@pytest.mark.parametrize(
    ("window", "problem"),
    [
        ("{cron: '0 3 * *', minutes: 5}", "five fields"),
        ("{cron: '0 3 * * 0'}", "needs minutes"),
        ("{start: '2026-12-24T00:00:00', end: '2026-12-24T06:00:00'}", "with a zone"),
        ("{start: '2026-12-24T06:00:00Z', end: '2026-12-24T00:00:00Z'}", "end must be after"),
    ],
)
def test_a_wrong_maintenance_window_is_refused(tmp_path: Path, window: str, problem: str) -> None:
    text = BASE.replace(
        '      - {cron: "0 3 * * 0", minutes: 30, reason: weekly patching}', f"      - {window}"
    )
    with pytest.raises(ConfigError, match=problem):
        load(tmp_path, text)


def test_a_store_url_written_in_the_file_is_refused_for_its_password(tmp_path: Path) -> None:
    text = BASE.replace("  listen: 127.0.0.1:8401", "  store: postgresql://u:pw@db/serve")
    with pytest.raises(ConfigError, match="store_secret"):
        load(tmp_path, text)
