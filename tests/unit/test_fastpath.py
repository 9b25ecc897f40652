"""The typer-free fast path of `status` and `rollback`: what it accepts means to typer
exactly what it means here, and everything else goes to typer."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import typer.main
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.cli import fastpath
from shipyard.cli.main import app

TOKENS = [
    "bench",
    "prod",
    "a b",
    "ünï",
    "4894ed64bba4",
    "--json",
    "--check",
    "--config",
    "-c",
    "--config=other.yml",
    "--config=",
    "other.yml",
    "-",
    "--",
    "--help",
    "--lock-wait",
    "2",
    "--message",
    "--yes",
    "--restore-data",
    "-x",
]


def typer_params(args: list[str]) -> dict[str, Any]:
    """What typer parses ARGS (`COMMAND ...`) into: the command's parameters by name."""
    group = typer.main.get_command(app)
    command = group.get_command(None, args[0])  # type: ignore[attr-defined]
    with command.make_context(args[0], list(args[1:])) as ctx:
        return dict(ctx.params)


@settings(max_examples=300, deadline=None)
@given(
    command=st.sampled_from(["status", "rollback"]),
    rest=st.lists(st.sampled_from(TOKENS), max_size=5),
    envvar=st.sampled_from([None, "", "from-env.yml"]),
)
def test_every_form_the_fast_path_accepts_typer_parses_to_the_same_parameters(
    command: str, rest: list[str], envvar: str | None
) -> None:
    saved = os.environ.pop(fastpath.CONFIG_ENVVAR, None)
    if envvar is not None:
        os.environ[fastpath.CONFIG_ENVVAR] = envvar
    try:
        parsed = fastpath.parse([command, *rest])
        if parsed is not None:
            assert parsed == (command, typer_params([command, *rest]))
    finally:
        os.environ.pop(fastpath.CONFIG_ENVVAR, None)
        if saved is not None:
            os.environ[fastpath.CONFIG_ENVVAR] = saved


def test_the_plain_forms_of_status_and_rollback_run_on_the_fast_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(fastpath.CONFIG_ENVVAR, raising=False)
    assert fastpath.parse(["status", "prod", "--json", "-c", "x.yml"]) == (
        "status",
        {"env_name": "prod", "config": Path("x.yml"), "json_output": True, "check": False},
    )
    command, params = fastpath.parse(["rollback", "prod", "abc123"]) or ("", {})
    assert (command, params["release"], params["config"]) == (
        "rollback",
        "abc123",
        Path("shipyard.yml"),
    )
    monkeypatch.setenv(fastpath.CONFIG_ENVVAR, "from-env.yml")
    assert (fastpath.parse(["status", "prod"]) or ("", {}))[1]["config"] == Path("from-env.yml")


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["status"],  # missing ENV: typer's usage error
        ["status", "--help"],
        ["status", "a", "b"],
        ["status", "prod", "--config"],
        ["status", "prod", "--config", "--json"],
        ["status", "prod", "-c", "a.yml", "-c", "b.yml"],
        ["status", "prod", "--"],
        ["rollback", "prod", "--lock-wait", "5"],
        ["rollback", "prod", "--restore-data", "--yes"],
        ["rollback", "prod", "r1", "r2"],
        ["deploy", "prod"],
        ["-c", "x.yml", "status", "prod"],
    ],
)
def test_anything_but_a_plain_form_is_left_to_typer(args: list[str]) -> None:
    assert fastpath.parse(args) is None
    assert fastpath.run(args) is False


def run_cli(
    tmp_path: Path, args: list[str], *, through: str
) -> tuple[int, str, str, dict[str, Any]]:
    """`shipyard ARGS` in a fresh interpreter, through the entry point or straight into
    typer's app: exit code, stdout, stderr, and what was loaded and how the collector was."""
    import json
    import subprocess
    import sys
    import textwrap

    facts = tmp_path / "facts.json"
    call = (
        "from shipyard.cli.entry import run; run()"
        if through == "entry"
        else "from shipyard.cli.main import run; run()"
    )
    script = textwrap.dedent(
        f"""
        import atexit, gc, json, sys
        def dump():
            with open({str(facts)!r}, "w") as out:
                json.dump({{"typer": any(m.split(".")[0] == "typer" for m in sys.modules),
                           "gc_enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}}, out)
        atexit.register(dump)
        sys.argv = ["shipyard", *{args!r}]
        {call}
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SHIPYARD_CONFIG_CACHE": "off", "COLUMNS": "120", "NO_COLOR": "1"},
    )
    return done.returncode, done.stdout, done.stderr, json.loads(facts.read_text())


@pytest.fixture
def local_config(tmp_path: Path) -> Path:
    import yaml

    config = tmp_path / "shipyard.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "app": "demo",
                "start": "python3 app.py",
                "nginx": {"listen": "127.0.0.1:18999"},
                "environments": {"local": {"hosts": ["local"], "root": str(tmp_path / "root")}},
            }
        )
    )
    return config


def test_status_of_a_local_environment_runs_without_loading_typer(
    tmp_path: Path, local_config: Path
) -> None:
    code, out, err, facts = run_cli(tmp_path, ["status", "local"], through="entry")
    assert code == 0, err
    assert "not deployed yet" in out
    assert not facts["typer"]
    assert facts["gc_enabled"] and facts["frozen"] > 0  # resumed when the work began


def test_status_help_is_not_a_plain_form_and_runs_through_typer(
    tmp_path: Path, local_config: Path
) -> None:
    code, out, _, facts = run_cli(tmp_path, ["status", "local", "--help"], through="entry")
    assert code == 0
    assert "Usage" in out and "--check" in out
    assert facts["typer"]


@pytest.mark.parametrize(
    "args",
    [["status", "nosuch"], ["status", "local", "-c", "missing.yml"], ["rollback", "nosuch"]],
)
def test_a_failure_on_the_fast_path_says_and_exits_as_it_does_through_typer(
    tmp_path: Path, local_config: Path, args: list[str]
) -> None:
    fast = run_cli(tmp_path, args, through="entry")
    typed = run_cli(tmp_path, args, through="typer")
    assert not fast[3]["typer"] and typed[3]["typer"]
    assert fast[:3] == typed[:3]
    assert fast[0] == 2 and "error:" in fast[2]


def test_the_collector_is_off_while_a_command_starts_and_back_on_with_start_up_frozen() -> None:
    import gc

    from shipyard.cli import failures
    from shipyard.core import startup_gc

    assert gc.isenabled()
    try:
        startup_gc.pause()
        assert not gc.isenabled()
        assert failures.guard(lambda: 42) == 42
        assert gc.isenabled()
        frozen = gc.get_freeze_count()
        assert frozen > 0
        startup_gc.resume()  # once only
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
        gc.enable()
