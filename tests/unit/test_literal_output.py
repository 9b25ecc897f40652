"""Text from outside (refs, host output, names, summaries) prints literally, never as rich
markup: in errors, tables and the live table (issue 8, item 14)."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from shipyard.cli import output
from shipyard.cli.gates_cmd import print_report
from shipyard.cli.main import app
from shipyard.errors import ExitCode
from shipyard.execute.reporter import LiveReporter, PlainReporter
from shipyard.gates.result import GateResult, GatesReport

MARKUP = ["[/x]", "[bold]nope", "[red]x[/red]", "[link=file:///etc]y"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    config = {
        "app": "reconcile",
        "start": "python3 app.py",
        "gates": {"bandit": {"enabled": False}},
        "environments": {"local": {"hosts": ["local"], "root": str(tmp_path / "hosts")}},
    }
    (tmp_path / "shipyard.yml").write_text(yaml.safe_dump(config))
    (tmp_path / "app.py").write_text("print('hi')\n")
    for argv in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "first"],
    ):
        subprocess.run(["git", "-C", str(tmp_path), *argv], check=True)
    return tmp_path


@pytest.mark.parametrize("ref", ["[/x]", "[bold]nope"])
def test_a_ref_that_looks_like_markup_is_printed_literally_in_the_error(
    repo: Path, ref: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    monkeypatch.setenv("CI", "true")
    result = CliRunner().invoke(
        app, ["deploy", "local", "--ref", ref, "-c", str(repo / "shipyard.yml")]
    )
    assert result.exit_code == ExitCode.BUILD, result.output
    assert f"error: no commit named {ref!r} in the git repository" in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # an exit code, not a crash


@pytest.mark.parametrize("text", MARKUP)
def test_the_live_table_shows_host_names_phases_and_details_literally(text: str) -> None:
    buffer = io.StringIO()
    reporter = LiveReporter(Console(file=buffer, width=200, force_terminal=False))
    reporter.phase(f"deploy@{text}", "prepare", "failed", f"host said {text}")
    reporter.info(f"note {text}")
    reporter.close()
    shown = buffer.getvalue()
    assert f"deploy@{text}" in shown
    assert f"host said {text}" in shown
    assert f"note {text}" in shown


@pytest.mark.parametrize("text", MARKUP)
def test_plain_progress_lines_show_host_output_literally(text: str) -> None:
    buffer = io.StringIO()
    PlainReporter(buffer).phase("local", "check", "failed", text)
    assert text in buffer.getvalue()


def test_tables_and_the_gates_report_print_cells_literally_and_keep_their_colours(
    capsys: pytest.CaptureFixture[str],
) -> None:
    output.table("[bold]title", ["[x]"], [["[/x]"], ["[bold]nope"]])
    report = GatesReport(
        [GateResult("[red]gate", "command", "fail", 0.1, "said [/x] and [bold]y")], 0.1
    )
    print_report(report)
    shown = capsys.readouterr().out
    for text in ("[bold]title", "[x]", "[/x]", "[bold]nope", "[red]gate", "said [/x] and [bold]y"):
        assert text in shown
    assert "[red]fail" not in shown and "fail" in shown  # the status is styled, not markup


def test_a_config_key_that_looks_like_markup_is_named_literally_by_config_check(
    tmp_path: Path,
) -> None:
    config = tmp_path / "shipyard.yml"
    config.write_text(
        "app: reconcile\nstart: python3 app.py\n'[bold]nope': 1\n"
        "environments:\n  local:\n    hosts: [local]\n"
    )
    result = CliRunner().invoke(app, ["config", "check", "-c", str(config)])
    assert result.exit_code == ExitCode.CONFIG, result.output
    assert "[bold]nope" in result.output
    assert "Traceback" not in result.output
