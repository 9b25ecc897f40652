"""What `shipyard setup` says is left to do, for what the environment uses."""

from __future__ import annotations

from pathlib import Path

from shipyard.cli.setup_cmd import next_steps
from shipyard.config.loader import ConfigFile
from shipyard.config.model import Environment

BASE = """\
app: reconcile
start: python3 app.py
nginx:
  listen: 0.0.0.0:80
  server_names: [shop.example.com]
environments:
  production:
    hosts: [deploy@10.0.0.6]
"""


def _env(tmp_path: Path, extra: str = "") -> Environment:
    path = tmp_path / "shipyard.yml"
    path.write_text(BASE + extra)
    return ConfigFile.load(path).environment("production")


def test_after_setup_only_the_first_deploy_is_left_for_a_plain_environment(tmp_path: Path) -> None:
    assert next_steps(_env(tmp_path)) == ["shipyard deploy production"]


def test_with_acme_setup_points_at_the_renewal_timer_for_the_machine_with_the_config(
    tmp_path: Path,
) -> None:
    steps = next_steps(_env(tmp_path, "    tls: {mode: acme, acme: {email: ops@example.com}}\n"))
    assert steps[0] == "shipyard deploy production"
    assert any(step.startswith("shipyard tls timer production") for step in steps)
    assert not any("backup" in step for step in steps)


def test_with_backups_no_step_is_left_for_the_timers_setup_installs_them(tmp_path: Path) -> None:
    backup = (
        "    secrets: {PW: {from_env: PW}}\n    backup:\n      password_secret: PW\n"
        "      sources: [{name: uploads, type: directory, path: uploads}]\n"
    )
    assert next_steps(_env(tmp_path, backup)) == ["shipyard deploy production"]
