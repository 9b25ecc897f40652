"""Running gates: commands, timeouts, unknown handling, file discovery, the report."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from shipyard.config.gates import BanditGate, GatesConfig, PipAuditGate
from shipyard.config.loader import ConfigFile
from shipyard.gates import GatesFailed, explain, pipaudit, run_gates, run_gates_for
from shipyard.gates import bandit as bandit_gate
from shipyard.gates import runner as runner_module
from shipyard.gates.process import Outcome, run_process

NO_BUILTINS = {"pip_audit": {"enabled": False}, "bandit": {"enabled": False}}


def gates(*commands: dict[str, object], **extra: object) -> GatesConfig:
    return GatesConfig.model_validate({**NO_BUILTINS, "commands": list(commands), **extra})


def by_name(report, name):  # type: ignore[no-untyped-def]
    return next(r for r in report.results if r.name == name)


# -- commands -----------------------------------------------------------------------------


def test_commands_pass_and_fail_and_every_gate_runs(tmp_path: Path):
    report = run_gates(
        tmp_path,
        gates(
            {"name": "lint", "run": "echo checking; echo 'E501 line too long' >&2; exit 1"},
            {"name": "tests", "run": "echo '3 passed in 0.01s'"},
        ),
    )
    assert not report.passed
    lint, tests = report.results
    assert (lint.status, tests.status) == ("fail", "pass")
    assert lint.summary == "exit status 1: E501 line too long"
    assert "checking" in lint.details["output_tail"]  # stdout and stderr, interleaved
    assert tests.summary == "3 passed in 0.01s"
    assert [r.name for r in report.blocking] == ["lint"]
    assert report.describe() == "gates failed: lint (fail)"
    assert explain(lint)[-1] == "| E501 line too long"


def test_command_runs_in_the_app_dir_with_the_variables(tmp_path: Path):
    report = run_gates(
        tmp_path,
        gates({"name": "where", "run": 'test "$PWD" = "$(pwd -P)" && echo "$SHIPYARD_ENV $PWD"'}),
        variables={"SHIPYARD_ENV": "staging"},
    )
    assert report.results[0].summary == f"staging {tmp_path.resolve()}"


def alive(pid: int) -> bool:
    """Is `pid` a live process (not gone, not a zombie waiting to be reaped)?"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_timeout_is_unknown_and_kills_the_children(tmp_path: Path):
    # the background child records its pid at once, then would live for 30 s
    report = run_gates(
        tmp_path,
        gates(
            {
                "name": "slow",
                "run": "sh -c 'echo $$ > child.pid; exec sleep 30' & sleep 30",
                "timeout": 1,
            }
        ),
    )
    (slow,) = report.results
    assert slow.status == "unknown"
    assert slow.summary == "did not finish within 1s"
    assert not report.passed
    child = int((tmp_path / "child.pid").read_text())
    deadline = time.monotonic() + 10  # SIGKILL was sent; give the kernel a moment
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child), f"the gate's child {child} survived its timeout"


@pytest.mark.parametrize(
    ("run", "why"),
    [("no-such-command-xyz", "command not found"), ("./not-executable", "not executable")],
)
def test_a_command_that_cannot_run_is_unknown(tmp_path: Path, run: str, why: str):
    (tmp_path / "not-executable").write_text("echo hi\n")
    report = run_gates(tmp_path, gates({"name": "broken", "run": run}))
    assert report.results[0].status == "unknown"
    assert why in report.results[0].summary
    assert not report.passed


def test_on_unknown_warn_lets_the_report_pass_but_never_says_pass(tmp_path: Path):
    report = run_gates(
        tmp_path,
        gates({"name": "flaky", "run": "sleep 5", "timeout": 0.2, "on_unknown": "warn"}),
    )
    (flaky,) = report.results
    assert flaky.status == "unknown"
    assert flaky.ok and flaky.warning
    assert report.passed
    assert report.warnings == [flaky]
    assert "unknown" in report.describe()


def test_warn_does_not_excuse_a_failure(tmp_path: Path):
    report = run_gates(tmp_path, gates({"name": "x", "run": "exit 1", "on_unknown": "warn"}))
    assert not report.passed


def test_skip_optional_does_not_run_optional_gates(tmp_path: Path):
    config = gates(
        {"name": "slow-e2e", "run": "touch ran", "optional": True},
        {"name": "unit", "run": "true"},
    )
    report = run_gates(tmp_path, config, include_optional=False)
    assert by_name(report, "slow-e2e").status == "skipped"
    assert "--skip-optional" in by_name(report, "slow-e2e").summary
    assert by_name(report, "unit").status == "pass"
    assert report.passed
    assert not (tmp_path / "ran").exists()
    run_gates(tmp_path, config)
    assert (tmp_path / "ran").exists()


def test_a_gate_that_crashes_is_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def explode(app_dir: Path, config: BanditGate) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(runner_module, "run_bandit", explode)
    report = run_gates(tmp_path, GatesConfig.model_validate({"pip_audit": {"enabled": False}}))
    (result,) = report.results
    assert result.status == "unknown"
    assert "OSError: disk on fire" in result.summary
    assert not report.passed


def test_report_json_is_plain_data(tmp_path: Path):
    report = run_gates(tmp_path, gates({"name": "ok", "run": "echo fine"}))
    data = json.loads(json.dumps(report.to_json()))
    assert data["passed"] is True
    (gate,) = data["gates"]
    assert gate["name"] == "ok" and gate["kind"] == "command" and gate["status"] == "pass"
    assert gate["ok"] is True and isinstance(gate["duration_s"], float)
    assert set(gate) == {
        "name",
        "kind",
        "status",
        "ok",
        "duration_s",
        "summary",
        "on_unknown",
        "details",
    }


def test_run_process_reports_a_missing_program(tmp_path: Path):
    outcome = run_process(["/nonexistent/tool"], tmp_path, 5)
    assert outcome.returncode is None and outcome.start_error


# -- pip-audit, without the network --------------------------------------------------------


def test_pip_audit_without_requirements_is_skipped(tmp_path: Path):
    result = pipaudit.run_pip_audit(tmp_path, PipAuditGate())
    assert result.status == "skipped"
    assert "requirements.txt" in result.summary
    assert result.ok


def test_pip_audit_with_a_configured_file_missing_is_unknown(tmp_path: Path):
    (tmp_path / "requirements.txt").write_text("requests==2.32.4\n")
    config = PipAuditGate(requirements=["requirements.txt", "requirements/prod.txt"])
    result = pipaudit.run_pip_audit(tmp_path, config)
    assert result.status == "unknown"
    assert "requirements/prod.txt" in result.summary


def test_pip_audit_command_line():
    argv = pipaudit.pip_audit_argv(PipAuditGate(), ["requirements.txt"], python="py")
    assert argv[:3] == ["py", "-m", "pip_audit"]
    assert argv[3:5] == ["-f", "json"]
    assert "--no-deps" in argv and "--disable-pip" in argv
    assert argv[argv.index("-s") + 1] == "pypi"
    resolved = pipaudit.pip_audit_argv(
        PipAuditGate(resolve=True, service="osv", osv_url="http://127.0.0.1:1/v1/query"),
        ["a.txt", "b.txt"],
        python="py",
    )
    assert "--no-deps" not in resolved and "--disable-pip" not in resolved
    assert resolved.count("-r") == 2
    assert resolved[resolved.index("--osv-url") + 1] == "http://127.0.0.1:1/v1/query"


def test_pip_audit_timeout_and_start_failure_are_unknown():
    config = PipAuditGate(timeout=2)
    timed_out = Outcome(None, "", "", 2.0, timed_out=True)
    assert pipaudit.verdict_from_outcome(timed_out, config).status == "unknown"
    never = Outcome(None, "", "", 0.0, start_error="No such file")
    assert pipaudit.verdict_from_outcome(never, config).status == "unknown"


# -- bandit's file discovery ----------------------------------------------------------------


def test_bandit_discovers_source_and_skips_venvs_and_hidden_dirs(tmp_path: Path):
    for name in [
        "app.py",
        "pkg/models.py",
        "pkg/tests/test_models.py",
        "notes.txt",
        ".shipyard/hosts/releases/x/app.py",
        "venv-custom/lib/site.py",
        "pkg/__pycache__/models.py",
    ]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")
    (tmp_path / "venv-custom" / "pyvenv.cfg").write_text("home = /usr\n")
    files, missing = bandit_gate.discover_sources(tmp_path, BanditGate())
    assert files == ["app.py", "pkg/models.py", "pkg/tests/test_models.py"]
    assert missing == []
    files, _ = bandit_gate.discover_sources(tmp_path, BanditGate(exclude=["tests"]))
    assert files == ["app.py", "pkg/models.py"]
    files, _ = bandit_gate.discover_sources(tmp_path, BanditGate(paths=["pkg", "app.py"]))
    assert files == ["app.py", "pkg/models.py", "pkg/tests/test_models.py"]


def test_bandit_without_python_files_is_skipped(tmp_path: Path):
    (tmp_path / "index.js").write_text("console.log(1)\n")
    result = bandit_gate.run_bandit(tmp_path, BanditGate())
    assert result.status == "skipped"
    assert result.summary == "no Python files under ."


def test_bandit_with_a_configured_path_missing_is_unknown(tmp_path: Path):
    (tmp_path / "app.py").write_text("x = 1\n")
    result = bandit_gate.run_bandit(tmp_path, BanditGate(paths=["app.py", "src"]))
    assert result.status == "unknown"
    assert result.summary == "path not found: src"


def test_bandit_command_line_passes_skips():
    argv = bandit_gate.bandit_argv(BanditGate(skip=["B101", "B311"]), ["app.py"], python="py")
    assert argv == ["py", "-m", "bandit", "-f", "json", "-q", "-s", "B101,B311", "app.py"]


# -- the deploy's entry point ---------------------------------------------------------------


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)


def environment(tmp_path: Path, run: str):  # type: ignore[no-untyped-def]
    config = tmp_path / "shipyard.yml"
    config.write_text(
        "app: demo\nstart: python3 app.py\n"
        f"gates:\n  commands:\n    - {{name: check, run: {json.dumps(run)}}}\n"
        "  pip_audit: {enabled: false}\n  bandit: {enabled: false}\n"
        "environments:\n  staging:\n    hosts: [local]\n"
    )
    return ConfigFile.load(config).environment("staging"), config


def test_run_gates_for_returns_the_report_and_reports_each_gate(tmp_path: Path):
    env, config = environment(tmp_path, 'echo "env=$SHIPYARD_ENV"')
    reporter = Lines()
    data = run_gates_for(env, config, reporter)
    assert data["passed"] is True
    assert data["gates"][0]["summary"] == "env=staging"
    assert reporter.lines == ["gate check: ok in 0.0s: env=staging"]


def test_run_gates_for_raises_with_the_report(tmp_path: Path):
    env, config = environment(tmp_path, "echo 'FAILED test_app.py::test_total'; exit 1")
    reporter = Lines()
    with pytest.raises(GatesFailed) as caught:
        run_gates_for(env, config, reporter)
    assert str(caught.value) == "gates failed: check (fail)"
    assert caught.value.report.to_json()["passed"] is False
    assert reporter.lines[0].startswith("gate check: FAILED in ")
    assert reporter.lines[1] == "    | FAILED test_app.py::test_total"
