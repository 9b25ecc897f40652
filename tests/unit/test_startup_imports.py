"""Start-up: each command imports only what it needs (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

HEAVY_FOR_HELP = (
    "asyncssh",
    "pydantic",
    "httpx",
    "rich",
    "yaml",
    "shipyard.gates",
    "shipyard.config.model",
    "shipyard.execute.pipeline",
)


def modules_after(code: str, out: Path, *, argv: list[str] | None = None) -> set[str]:
    """The modules loaded by `code` in a fresh interpreter, also when it exits."""
    script = textwrap.dedent(
        f"""
        import atexit, json, sys
        OUT = sys.argv[1]
        def dump():
            with open(OUT, "w") as out:
                json.dump(sorted(sys.modules), out)
        atexit.register(dump)
        sys.argv = [sys.argv[0], *{argv or []!r}]
        """
    ) + textwrap.dedent(code)
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, str(out)],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return set(json.loads(out.read_text()))
    finally:
        out.unlink(missing_ok=True)


def loaded(modules: set[str], name: str) -> bool:
    return any(m == name or m.startswith(name + ".") for m in modules)


def test_importing_the_cli_entry_point_loads_no_ssh_gates_or_config_model(tmp_path: Path) -> None:
    modules = modules_after("import shipyard.cli.entry", tmp_path / "m.json")
    for name in HEAVY_FOR_HELP:
        assert not loaded(modules, name), name


def test_the_whole_cli_app_is_built_without_ssh_gates_pydantic_or_httpx(tmp_path: Path) -> None:
    modules = modules_after("import shipyard.cli.main", tmp_path / "m.json")
    for name in HEAVY_FOR_HELP:
        assert not loaded(modules, name), name


def test_help_runs_without_ssh_gates_config_model_or_http_client(tmp_path: Path) -> None:
    modules = modules_after(
        "from shipyard.cli.entry import run\nrun()\n", tmp_path / "m.json", argv=["--help"]
    )
    assert "typer" in modules  # it did build the help
    for name in ("asyncssh", "pydantic", "httpx", "shipyard.gates", "shipyard.execute"):
        assert not loaded(modules, name), name


def test_a_local_environment_status_path_loads_no_ssh_library_and_no_gates(
    tmp_path: Path,
) -> None:
    config = tmp_path / "shipyard.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "app": "demo",
                "start": "python3 app.py",
                "nginx": {"listen": "127.0.0.1:18999"},
                "environments": {"local": {"hosts": ["local"], "root": str(tmp_path)}},
            }
        )
    )
    modules = modules_after(
        f"""
        from shipyard.cli import inspect_cmd, views
        from pathlib import Path
        from shipyard.cli.options import load_env
        from shipyard.execute import queries
        from shipyard.execute.hostclient import transport_for
        env = load_env(Path({str(config)!r}), "local")
        transport_for(env, env.hosts[0])
        """,
        tmp_path / "m.json",
    )
    assert loaded(modules, "shipyard.config.model")  # the config was loaded
    for name in ("asyncssh", "shipyard.transport.ssh", "shipyard.gates", "httpx", "rich"):
        assert not loaded(modules, name), name


def test_an_ssh_host_loads_the_ssh_library_when_its_transport_is_made(tmp_path: Path) -> None:
    config = tmp_path / "shipyard.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "app": "demo",
                "start": "python3 app.py",
                "nginx": {"listen": "127.0.0.1:18999"},
                "environments": {"prod": {"hosts": ["root@127.0.0.1:2222"], "root": "/srv"}},
            }
        )
    )
    modules = modules_after(
        f"""
        from pathlib import Path
        from shipyard.cli.options import load_env
        from shipyard.execute.hostclient import transport_for
        env = load_env(Path({str(config)!r}), "prod")
        transport_for(env, env.hosts[0])
        """,
        tmp_path / "m.json",
    )
    assert loaded(modules, "asyncssh")


def test_the_host_agent_starts_without_the_modules_of_the_deploy_phases(tmp_path: Path) -> None:
    modules = modules_after("import shipyard.host.agent", tmp_path / "m.json")
    for name in ("xmlrpc.client", "tarfile", "httpx", "shipyard.host.nginx", "pydantic"):
        assert not loaded(modules, name), name


def test_every_host_operation_is_found_by_name_in_the_module_listed_for_it() -> None:
    from shipyard.host.operations import MODULE_OF, all_handlers, handler_for
    from shipyard.protocol.catalog import CATALOG

    handlers = all_handlers()
    assert set(handlers) == set(MODULE_OF) == set(CATALOG)
    for name, handler in handlers.items():
        assert handler_for(name) is handler
        assert handler.run.__module__.endswith("." + MODULE_OF[name])
    assert handler_for("no-such-op") is None


def test_help_still_lists_every_command_with_its_own_summary() -> None:
    import typer.main

    from shipyard.cli.main import app

    group = typer.main.get_command(app)
    shown = subprocess.run(
        [sys.executable, "-m", "shipyard", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "TERM": "dumb"},
    ).stdout
    commands = group.commands  # type: ignore[attr-defined]
    visible = {name: cmd for name, cmd in commands.items() if not cmd.hidden}
    assert {"deploy", "rollback", "status", "gates", "lock", "config", "init"} <= set(visible)
    for name, command in visible.items():
        summary = (command.help or "").strip().splitlines()[0]
        assert name in shown, name
        assert summary[:40] in " ".join(shown.split()), (name, summary)


def test_help_loads_neither_markdown_it_nor_pygments_which_typer_imports_unused(
    tmp_path: Path,
) -> None:
    modules = modules_after(
        "from shipyard.cli.entry import run\nrun()\n", tmp_path / "m.json", argv=["--help"]
    )
    assert "typer.rich_utils" in modules  # the rich help renderer did run
    for name in ("markdown_it", "pygments"):
        assert not loaded(modules, name), name


def test_the_deferred_rich_classes_load_the_real_ones_when_used(tmp_path: Path) -> None:
    code = """
        from shipyard.cli.deferred_imports import defer_unused_rich_modules
        defer_unused_rich_modules()
        import typer.rich_utils as r
        assert type(r.Markdown("# title")).__module__ == "rich.markdown"
        try:
            raise ValueError("x")
        except ValueError as e:
            trace = r.Traceback.from_exception(type(e), e, e.__traceback__)
        import rich.traceback
        assert isinstance(trace, rich.traceback.Traceback)
    """
    modules = modules_after(code, tmp_path / "m.json")
    assert loaded(modules, "markdown_it") and loaded(modules, "pygments")


NOT_FOR_STATUS = (
    "yaml",  # the configuration comes from the validated cache
    "importlib.metadata",  # pydantic's plugin loader
    "asyncssh",
    "shipyard.transport.ssh",
    "shipyard.protocol.boot",  # operations `status` does not use
    "shipyard.protocol.switch",
    "shipyard.protocol.prepare",
    "shipyard.protocol.maintenance",
    "shipyard.protocol.observe",
    "shipyard.protocol.backup",  # no backups configured
    "shipyard.protocol.tls",  # no TLS
    "shipyard.protocol.specs",  # the deploy-time specs (health, proxy, TLS, slot)
    "shipyard.execute.backup",
    "shipyard.execute.tls",
    "shipyard.execute.pipeline",
    "shipyard.release.artifact",
    "shipyard.gates",
    "httpx",
)


def test_status_of_a_local_environment_on_a_cache_hit_builds_no_model_and_loads_no_unused_op(
    tmp_path: Path,
) -> None:
    config = tmp_path / "shipyard.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "app": "demo",
                "start": "python3 app.py",
                "nginx": {"listen": "127.0.0.1:18999"},
                "environments": {"local": {"hosts": ["local"], "root": str(tmp_path)}},
            }
        )
    )
    code = f"""
        import os
        os.environ["SHIPYARD_CONFIG_CACHE"] = {str(tmp_path / "cache")!r}
        from pathlib import Path
        from shipyard.cli.deferred_imports import defer_pydantic_plugin_loader
        defer_pydantic_plugin_loader()  # as the CLI does for a command
        from shipyard.cli import inspect_cmd, views
        from shipyard.cli.options import load_env
        from shipyard.config.runtime import spec_from_json, spec_of
        from shipyard.execute import queries
        from shipyard.execute.hostclient import transport_for
        env = load_env(Path({str(config)!r}), "local")
        recorded = {{"start": "python3 app.py", "build": None, "build_timeout": 900.0,
            "release_command": None, "release_command_timeout": 600.0,
            "listen_mode": "socket", "workers": {{}}, "health": {{"path": "/up"}},
            "pre_switch": {{}}, "smoke_tests": {{}}, "observe": {{}}, "env": {{}},
            "secrets": {{}}, "shared": {{}}, "hooks": {{}}}}
        assert spec_from_json(recorded).health.path == "/up"  # as a host recorded it
        transport_for(env, env.hosts[0])
        from pydantic._internal._mock_val_ser import MockValSer
        from shipyard.config import model, runtime
        built = [c.__name__ for c in (model.Environment, model.Document, runtime.RuntimeSpec)
                 if not isinstance(c.__pydantic_validator__, MockValSer)]
        print("built:", built)
    """
    modules_after(code, tmp_path / "miss.json")  # validates and stores
    hit = code.rstrip(" ") + "        assert not built, built\n"
    modules = modules_after(hit, tmp_path / "hit.json")
    assert loaded(modules, "shipyard.config.model")
    for name in NOT_FOR_STATUS:
        assert not loaded(modules, name), name


def test_a_rollback_loads_neither_the_deploy_pipeline_nor_the_build_or_gates(
    tmp_path: Path,
) -> None:
    modules = modules_after(
        """
        from shipyard.cli import rollback_cmd
        from shipyard.execute import rollback_flow, runner
        """,
        tmp_path / "m.json",
    )
    assert loaded(modules, "shipyard.execute.rollback")
    for name in (
        "shipyard.execute.pipeline",
        "shipyard.execute.deploy",
        "shipyard.execute.gating",
        "shipyard.execute.hooks",
        "shipyard.execute.converge",  # a warm rollback does not converge
        "shipyard.execute.premigration",  # nor, without backups, read them
        "shipyard.protocol.prepare",  # nor prepare a release
        "shipyard.release.artifact",
        "shipyard.gates",
        "yaml",
        "asyncssh",
    ):
        assert not loaded(modules, name), name


def test_a_command_runs_in_an_app_that_holds_only_that_command() -> None:
    import typer.main

    from shipyard.cli.main import app, command_app

    for args, name in ((["status", "demo"], "status"), (["lock", "status", "x"], "lock")):
        group = typer.main.get_command(command_app(args))
        assert list(group.commands) == [name]  # type: ignore[attr-defined]
    for args in ([], ["--help"], ["--version"], ["statsu"], ["-c", "x.yml", "status"]):
        assert command_app(args) is app


def test_a_command_says_the_same_in_its_own_app_as_in_the_whole_app() -> None:
    from typer.testing import CliRunner

    from shipyard.cli.main import app, command_app

    runner = CliRunner()
    env = {"COLUMNS": "120", "TERM": "dumb", "NO_COLOR": "1"}
    for args in (
        ["status", "--help"],
        ["status"],  # missing ENV
        ["rollback", "--help"],
        ["rollback", "demo", "--lock-wait", "soon"],  # not a number
        ["lock", "--help"],
        ["lock", "nosuch"],
        ["backup", "schedule", "--help"],
    ):
        whole = runner.invoke(app, args, env=env)
        alone = runner.invoke(command_app(args), args, env=env)
        assert (alone.exit_code, alone.output) == (whole.exit_code, whole.output), args
        assert whole.output.strip()


def test_the_status_path_defines_none_of_the_deploy_time_protocol_specs() -> None:
    code = textwrap.dedent(
        """
        import sys
        from shipyard.cli import status_run, views
        from shipyard.execute import hostclient, locking, queries
        from shipyard.plan import requests
        specs = ("HealthSpec", "HttpCheckSpec", "ProxySpec", "TlsSpec", "SlotSpec")
        print(sorted(f"{name}.{spec}" for name, module in list(sys.modules.items())
                     if name.startswith("shipyard") for spec in specs if hasattr(module, spec)))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
