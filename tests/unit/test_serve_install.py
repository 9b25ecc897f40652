"""setup's `serve` step (`setup.serve`): the host's shipyard.yml, the secrets serve reads,
the known_hosts lines, the unit and the step's operations."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest
import yaml

from shipyard.config.errors import ConfigError
from shipyard.config.loader import ConfigFile
from shipyard.config.shipyard_config import ShipyardConfig
from shipyard.execute.serve_install import ServeInstallRefused, serve_install
from shipyard.plan.serve_install import (
    ServeInstall,
    ServePaths,
    known_hosts_lines,
    secret_needs,
    serve_unit,
)
from shipyard.plan.setup_facts import parse_facts
from shipyard.plan.setup_plan import STEPS, build_host_plan

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ0ZXN0a2V5dGVzdGtleXRlc3RrZXl0ZXN0a2V5 team"
HOSTKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHhvc3RrZXlob3N0a2V5aG9zdGtleWhvc3RrZXk"
DEBIAN = "id=debian\nlike=\nversion=12\npretty=Debian 12\nmachine=x86_64\npython=3.11\n" \
    "systemd=1\nuid=1000\nsudo=1\n"  # fmt: skip


def write_config(tmp_path: Path, known: str) -> Path:
    (tmp_path / "known_hosts").write_text(known)
    data = {
        "app": "shop",
        "start": "gunicorn app:app",
        "root": "hosts",
        "nginx": {
            "mode": "system",
            "include_dir": "/etc/nginx/shipyard.d",
            "binary": "shipyard-nginx",
        },
        "ssh": {
            "known_hosts": str(tmp_path / "known_hosts"),
            "identity_file": "~/.ssh/laptop_key",
            "config_file": "~/.ssh/config",
            "trust_unknown_hosts": True,
        },
        "secrets": {"BEAT": {"from_env": "SHOP_BEAT"}, "DATABASE_URL": {"from_env": "DB"}},
        "alerts": {"channels": ["SLACK"]},
        "serve": {
            "listen": "127.0.0.1:8400",
            "store": "serve.db",
            "secrets": {"SLACK": {"from_file": "slack.url"}, "UNUSED": {"from_env": "NOPE"}},
        },
        "environments": {
            "production": {
                "hosts": ["deploy@app1.example.com", "deploy@app2.example.com:2222"],
                "checks": [
                    {
                        "name": "nightly",
                        "kind": "heartbeat",
                        "every_minutes": 60,
                        "token_secret": "BEAT",
                    },
                ],
            },
            "ops": {
                "hosts": ["deploy@ops.example.com"],
                "setup": {"authorized_keys": [KEY], "serve": True},
            },
        },
    }
    path = tmp_path / "shipyard.yml"
    path.write_text(yaml.safe_dump(data))
    (tmp_path / "slack.url").write_text("slack://token-a/token-b/token-c\n")
    return path


KNOWN = (
    f"app1.example.com {HOSTKEY}\n"
    f"[app2.example.com]:2222 {HOSTKEY}\n"
    f"ops.example.com,10.0.0.9 {HOSTKEY}\n"
    f"elsewhere.example.com {HOSTKEY}\n"
)


def test_serve_reads_the_alert_channels_the_store_url_and_the_heartbeat_tokens() -> None:
    needs = secret_needs(["SLACK", "MAIL"], "STORE", {"production": ["BEAT"], "ops": []})
    assert [(n.file, n.name, n.env) for n in needs] == [
        ("serve.SLACK", "SLACK", ""),
        ("serve.MAIL", "MAIL", ""),
        ("serve.STORE", "STORE", ""),
        ("production.BEAT", "BEAT", "production"),
    ]


def test_the_hosts_config_references_each_secret_by_file_and_its_own_ssh_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_BEAT", "beat-token-1")
    install = serve_install(write_config(tmp_path, KNOWN), "ops", "shipyard")
    assert install.secrets == {
        "serve.SLACK": "slack://token-a/token-b/token-c",
        "production.BEAT": "beat-token-1",
    }
    for value in install.secrets.values():
        assert value not in install.config_text
    data = yaml.safe_load(install.config_text)
    paths = ServePaths("shipyard")
    assert data["ssh"] == {"identity_file": paths.key, "known_hosts": paths.known_hosts}
    assert data["serve"]["secrets"]["SLACK"] == {
        "from_env": None,
        "from_file": "/home/shipyard/.config/shipyard/serve/secrets/serve.SLACK",
    }
    assert data["serve"]["secrets"]["UNUSED"] == {"from_env": "NOPE"}  # never read
    assert data["environments"]["production"]["secrets"]["BEAT"]["from_file"].endswith(
        "/secrets/production.BEAT"
    )
    assert data["serve"]["store"] == "/home/shipyard/.local/state/shipyard/serve.db"
    assert data["root"] == str(tmp_path.resolve() / "hosts")


def test_the_rewritten_config_loads_and_resolves_each_secret_from_its_file_on_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_BEAT", "beat-token-1")
    install = serve_install(write_config(tmp_path, KNOWN), "ops", "shipyard")
    host = tmp_path / "host"
    host.mkdir()
    text = install.config_text
    for name, value in install.secrets.items():
        secret = host / name
        secret.write_text(value)
        secret.chmod(0o600)
        text = text.replace(ServePaths("shipyard").secret(name), str(secret))
    (host / "shipyard.yml").write_text(text)
    monkeypatch.delenv("SHOP_BEAT")  # on the host only the files hold them
    config = ShipyardConfig.load(host / "shipyard.yml")
    assert config.secret("SLACK", "alerts.channels") == "slack://token-a/token-b/token-c"
    assert config.environments["production"].ssh.trust_unknown_hosts is False
    assert config.environments["production"].ssh.config_file is None
    assert config.environments["production"].root == str(tmp_path.resolve() / "hosts")


def test_an_unset_secret_is_refused_on_the_operators_machine_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        serve_install(write_config(tmp_path, KNOWN), "ops", "shipyard")
    assert "SHOP_BEAT" in raised.value.message


def test_a_watched_host_without_a_known_key_is_refused_before_anything_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_BEAT", "x")
    known = KNOWN.replace(f"[app2.example.com]:2222 {HOSTKEY}\n", "")
    with pytest.raises(ServeInstallRefused) as raised:
        serve_install(write_config(tmp_path, known), "ops", "shipyard")
    assert "[app2.example.com]:2222" in raised.value.message


def test_without_the_operators_file_serve_is_refused() -> None:
    with pytest.raises(ServeInstallRefused) as raised:
        serve_install(None, "ops", "shipyard")
    assert "shipyard.yml" in raised.value.message


def test_known_hosts_keeps_only_the_watched_hosts_lines_hashed_ones_too() -> None:
    salt = b"0123456789abcdefghij"
    digest = hmac.new(salt, b"[db.example.com]:2200", hashlib.sha1).digest()
    hashed = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"
    text = (
        f"# a comment\n{KNOWN}{hashed} {HOSTKEY}\n*.internal,!bad.internal {HOSTKEY}\n"
        f"@revoked app1.example.com ssh-rsa AAAA\n"
    )
    wanted = [
        ("app1.example.com", 22),
        ("app2.example.com", 2222),
        ("db.example.com", 2200),
        ("web.internal", 22),
        ("bad.internal", 22),
    ]
    lines, missing = known_hosts_lines(text, wanted)
    assert lines.splitlines() == [
        f"app1.example.com {HOSTKEY}",
        f"[app2.example.com]:2222 {HOSTKEY}",
        f"{hashed} {HOSTKEY}",
        f"*.internal,!bad.internal {HOSTKEY}",
        "@revoked app1.example.com ssh-rsa AAAA",
    ]
    assert missing == ["bad.internal"]


def test_the_unit_runs_serve_unprivileged_with_only_its_state_writable() -> None:
    unit = serve_unit(ServePaths("shipyard"), "/usr/local/bin/shipyard")
    assert "User=shipyard\n" in unit and "Restart=always\n" in unit
    assert (
        "ExecStart=/usr/local/bin/shipyard serve --config "
        "/home/shipyard/.config/shipyard/serve/shipyard.yml\n"
    ) in unit
    for line in ("ProtectSystem=strict", "ProtectHome=read-only", "NoNewPrivileges=yes"):
        assert f"{line}\n" in unit
    assert "ReadWritePaths=/home/shipyard/.local/state/shipyard\n" in unit


def _serve_plan(tmp_path: Path, secrets: dict[str, str]) -> list[dict[str, object]]:
    path = tmp_path / "shipyard.yml"
    path.write_text(
        "app: shop\nstart: x\nnginx: {mode: system, include_dir: /etc/nginx/shipyard.d, "
        f'binary: shipyard-nginx}}\nsetup: {{user: admin, authorized_keys: ["{KEY}"], '
        "serve: true}\nenvironments: {ops: {hosts: [deploy@ops.example.com]}}\n"
    )
    env = ConfigFile.load(path).environment("ops")
    install = ServeInstall(ServePaths("shipyard"), "app: shop\n", secrets, "")
    plan = build_host_plan(env, "deploy@ops.example.com", "ops.example.com", 22,
                           parse_facts(DEBIAN), [KEY], ("/w.tar", "ab" * 32), "x==1", install)  # fmt: skip
    assert plan.sudo
    assert [step.name for step in plan.steps][-1] == "serve" and "serve" in STEPS
    return plan.steps[-1].ops


def test_the_serve_step_writes_each_secret_0600_for_its_user_and_restarts_on_change(
    tmp_path: Path,
) -> None:
    ops = _serve_plan(tmp_path, {"serve.SLACK": "slack://t"})
    by_path = {op.get("path"): op for op in ops}
    secret = by_path["/home/shipyard/.config/shipyard/serve/secrets/serve.SLACK"]
    assert secret["secret"] is True and secret["mode"] == "600" and secret["user"] == "shipyard"
    assert by_path["/home/shipyard/.config/shipyard/serve/shipyard.yml"]["mode"] == "600"
    assert by_path["/home/shipyard/.ssh/shipyard-serve_ed25519"]["op"] == "keygen"
    restart = ops[-1]
    assert restart["argv"] == ["systemctl", "reload-or-restart", "shipyard-serve.service"]
    watched = [ops[i].get("path") for i in restart["when_changed"]]  # type: ignore[union-attr]
    assert secret["path"] in watched and "/etc/systemd/system/shipyard-serve.service" in watched
    dirs = [op["path"] for op in ops if op["op"] == "directory"]
    assert dirs.index("/home/shipyard") < dirs.index("/home/shipyard/.config")


def test_a_secret_is_only_the_content_of_its_marked_file_never_in_a_command(
    tmp_path: Path,
) -> None:
    ops = _serve_plan(tmp_path, {"serve.SLACK": "slack://very-secret"})
    carrying = [op for op in ops if "very-secret" in json.dumps(op)]
    assert len(carrying) == 1 and carrying[0]["secret"] is True
    assert carrying[0]["content"] == "slack://very-secret"


def test_with_systemd_running_the_serve_unit_is_reloaded_only_after_its_file_changed(
    tmp_path: Path,
) -> None:
    ops = _serve_plan(tmp_path, {})  # DEBIAN's facts: systemd runs
    unit = next(i for i, op in enumerate(ops)
                if op.get("path") == "/etc/systemd/system/shipyard-serve.service")  # fmt: skip
    service = next(i for i, op in enumerate(ops) if op["op"] == "service")
    reloads = [i for i, op in enumerate(ops)
               if op["op"] == "command" and "daemon-reload" in op["argv"]]  # type: ignore[operator]  # fmt: skip
    assert len(reloads) == 1 and unit < reloads[0] < service
    assert ops[reloads[0]]["when_changed"] == [unit]  # not on every run
