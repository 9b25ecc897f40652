"""shipyard.yml: validation, environment overrides, and errors that point at the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.config.errors import ConfigError
from shipyard.config.loader import ConfigFile, deep_merge, resolve_secrets

BASE = """\
app: reconcile
start: python3 app.py
health:
  path: /healthz
  timeout: 2
env:
  LOG_LEVEL: info
environments:
  staging:
    hosts: [deploy@10.0.0.5]
  production:
    hosts:
      - deploy@10.0.0.6
      - address: deploy@10.0.0.7:2222
        listen: 10.0.0.7:80
    health:
      timeout: 5
    env:
      LOG_LEVEL: warning
  local:
    hosts: [local]
    root: hosts
"""


def load(tmp_path: Path, text: str) -> ConfigFile:
    path = tmp_path / "shipyard.yml"
    path.write_text(text)
    return ConfigFile.load(path)


def error_of(tmp_path: Path, text: str, env: str | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        config = load(tmp_path, text)
        if env:
            config.environment(env)
    return caught.value


def test_an_environment_overrides_only_the_keys_it_names(tmp_path: Path) -> None:
    production = load(tmp_path, BASE).environment("production")
    assert production.health.timeout == 5
    assert production.health.path == "/healthz"  # kept from the base
    assert production.env == {"LOG_LEVEL": "warning"}
    assert production.start == "python3 app.py"


def test_hosts_may_be_strings_or_mappings_with_per_host_overrides(tmp_path: Path) -> None:
    production = load(tmp_path, BASE).environment("production")
    assert [h.address for h in production.hosts] == ["deploy@10.0.0.6", "deploy@10.0.0.7:2222"]
    assert production.listen_for(production.hosts[1]) == "10.0.0.7:80"
    assert production.listen_for(production.hosts[0]) == "127.0.0.1:8080"
    assert production.primary.address == "deploy@10.0.0.6"


def test_a_relative_root_is_anchored_at_the_config_file(tmp_path: Path) -> None:
    local = load(tmp_path, BASE).environment("local")
    assert local.root == str(tmp_path / "hosts")


def test_a_bad_value_in_an_override_names_the_file_line_and_key(tmp_path: Path) -> None:
    text = BASE.replace("      timeout: 5", "      timeout: -1")
    error = error_of(tmp_path, text, "production")
    assert error.line == text.splitlines().index("      timeout: -1") + 1
    assert error.key_path == "environments.production.health.timeout"
    assert str(error).startswith(f"{tmp_path / 'shipyard.yml'}:{error.line}:")


def test_a_misspelt_key_is_an_error_not_silently_ignored(tmp_path: Path) -> None:
    text = BASE.replace("  timeout: 2", "  timeuot: 2")
    error = error_of(tmp_path, text, "staging")
    assert "unknown key" in error.message
    assert error.key_path == "health.timeuot"
    assert error.line == 5


def test_a_missing_start_command_is_reported_as_missing(tmp_path: Path) -> None:
    error = error_of(tmp_path, BASE.replace("start: python3 app.py\n", ""), "staging")
    assert error.key_path == "start" and "missing" in error.message


def test_an_unknown_environment_lists_the_defined_ones(tmp_path: Path) -> None:
    error = error_of(tmp_path, BASE, "prod")
    assert "staging, production, local" in error.message


def test_invalid_yaml_reports_the_line(tmp_path: Path) -> None:
    error = error_of(tmp_path, "app: x\nenvironments: [\n  oops: : :\n")
    assert "not valid YAML" in error.message and error.line is not None


def test_a_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        ConfigFile.load(tmp_path / "nope.yml")
    assert "shipyard init" in caught.value.hint


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("    hosts: [local, deploy@x]", "cannot be mixed"),
        ("    hosts: []", "at least one host"),
        ("    hosts: ['bad host!']", "not an SSH target"),
        ("    hosts: [local]\n    env: {PORT: '1'}", "set by Shipyard"),
        ("    hosts: [local]\n    nginx: {listen: '8080'}", "ADDRESS:PORT"),
        ("    hosts: [local]\n    keep_releases: 1", "greater than or equal to 2"),
    ],
)
def test_environment_rules_are_enforced_with_a_reason(
    tmp_path: Path, snippet: str, message: str
) -> None:
    text = "app: a\nstart: run\nenvironments:\n  e:\n" + snippet + "\n"
    error = error_of(tmp_path, text, "e")
    assert message in error.message


def test_secrets_come_from_the_operators_environment_or_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "key.txt").write_text("from-a-file\n")
    text = BASE + "secrets:\n  TOKEN: {from_env: MY_TOKEN}\n  KEY: {from_file: key.txt}\n"
    env = load(tmp_path, text).environment("staging")
    monkeypatch.setenv("MY_TOKEN", "from-the-env")
    assert resolve_secrets(env, tmp_path / "shipyard.yml") == {
        "TOKEN": "from-the-env",
        "KEY": "from-a-file",
    }
    monkeypatch.delenv("MY_TOKEN")
    with pytest.raises(ConfigError) as caught:
        resolve_secrets(env, tmp_path / "shipyard.yml")
    assert "MY_TOKEN" in caught.value.message and "not set" in caught.value.message


def test_a_secret_must_name_exactly_one_source(tmp_path: Path) -> None:
    text = BASE + "secrets:\n  TOKEN: {from_env: A, from_file: b}\n"
    assert "exactly one" in error_of(tmp_path, text, "staging").message


def test_deep_merge_merges_mappings_and_replaces_lists() -> None:
    merged = deep_merge({"a": {"x": 1, "y": 2}, "l": [1, 2]}, {"a": {"y": 3}, "l": [9]})
    assert merged == {"a": {"x": 1, "y": 3}, "l": [9]}


def test_whole_environment_rules_point_at_the_environments_hosts(tmp_path: Path) -> None:
    text = BASE.replace("    hosts: [deploy@10.0.0.5]", "    hosts: [local, deploy@10.0.0.5]")
    error = error_of(tmp_path, text, "staging")
    assert error.key_path == "environments.staging.hosts"
    assert error.line == text.splitlines().index("    hosts: [local, deploy@10.0.0.5]") + 1


@pytest.mark.parametrize(
    ("key", "value"), [("server_names", "['bad;name']"), ("client_max_body_size", "lots")]
)
def test_nginx_values_are_checked_before_any_host_sees_them(
    tmp_path: Path, key: str, value: str
) -> None:
    text = (
        "app: a\nstart: run\nnginx:\n  "
        + key
        + ": "
        + value
        + "\nenvironments:\n  e: {hosts: [local]}\n"
    )
    error = error_of(tmp_path, text, "e")
    assert error.key_path == f"nginx.{key}" and error.line == 4
