"""`shipyard tls timer ENV`: the renewal timer installed on this machine, once."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from shipyard.cli.main import app

CONFIG = """\
app: reconcile
start: python3 app.py
nginx:
  listen: 127.0.0.1:8080
  server_names: [shop.example.com]
environments:
  production:
    hosts: [deploy@10.0.0.6]
    tls:
      mode: '{mode}'
"""


def _config(tmp_path: Path, mode: str) -> Path:
    path = tmp_path / "shipyard.yml"
    path.write_text(CONFIG.format(mode=mode))
    return path


def test_the_timer_command_writes_a_service_that_renews_this_environment_and_then_no_changes(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, "self-signed")
    units = tmp_path / "units"
    units.mkdir()
    argv = ["tls", "timer", "production", "--unit-dir", str(units), "--no-enable"]
    first = CliRunner().invoke(app, [*argv, "--config", str(config)])
    assert first.exit_code == 0, first.output
    service = units / "shipyard-tls-renew-reconcile-production.service"
    timer = units / "shipyard-tls-renew-reconcile-production.timer"
    assert f"wrote {service}" in first.output and f"wrote {timer}" in first.output
    assert f"tls renew production --config {config.resolve()}" in service.read_text()
    assert "OnCalendar=" in timer.read_text()
    second = CliRunner().invoke(app, [*argv, "--config", str(config)])
    assert second.exit_code == 0, second.output
    assert "no changes" in second.output and "wrote" not in second.output


def test_the_timer_command_refuses_an_environment_without_tls(tmp_path: Path) -> None:
    config = _config(tmp_path, "off")
    result = CliRunner().invoke(
        app,
        [
            "tls",
            "timer",
            "production",
            "--unit-dir",
            str(tmp_path),
            "--no-enable",
            "--config",
            str(config),
        ],
    )
    assert result.exit_code == 2
    assert "tls.mode: off" in result.output
    assert not list(tmp_path.glob("*.service"))
