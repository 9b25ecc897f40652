"""The `shipyard` command."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from shipyard import __version__
from shipyard.cli import exitcodes, output, views
from shipyard.cli.gates_cmd import register as register_gates
from shipyard.cli.init_cmd import register as register_init
from shipyard.config.errors import ConfigError
from shipyard.config.loader import DEFAULT_FILE, ConfigFile, resolve_secrets
from shipyard.config.model import Environment
from shipyard.execute import queries
from shipyard.execute.deploy import DeployFailed, DeployOptions, deploy
from shipyard.execute.hooks import HookFailed
from shipyard.execute.hostclient import HostError
from shipyard.execute.identity import trigger
from shipyard.execute.locking import LockHeld, describe_lock
from shipyard.execute.promote import (
    PromotionRefused,
    approval_for,
    approve,
    promote,
    required_verdict,
)
from shipyard.execute.redact import redact
from shipyard.execute.reporter import PlainReporter, Reporter, make_reporter
from shipyard.execute.rollback import rollback
from shipyard.execute.session import PhaseFailed
from shipyard.release.artifact import ArtifactError

HELP = """Zero-downtime blue-green deploys behind nginx, to one server or a fleet over SSH.

Exit codes: 0 ok; 1 deploy or rollback failed (the previous release still serves);
2 bad configuration or usage; 3 the environment is locked by another deploy;
4 a host could not be reached; 5 the release could not be built (git, hooks);
6 a quality gate failed; 7 the environment refused the release (promotion, approval).
"""

app = typer.Typer(
    help=HELP, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False
)
config_app = typer.Typer(help="Inspect shipyard.yml.", no_args_is_help=True)
lock_app = typer.Typer(help="The environment's deploy lock (held on the primary host).")
app.add_typer(config_app, name="config")
app.add_typer(lock_app, name="lock")

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="Path to shipyard.yml.", envvar="SHIPYARD_CONFIG")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for programs.")]
EnvArgument = Annotated[
    str, typer.Argument(metavar="ENV", help="Environment name from shipyard.yml.")
]

T = TypeVar("T")


def _load(config: Path, env_name: str) -> Environment:
    return ConfigFile.load(config).environment(env_name)


def _run(coro: Coroutine[Any, Any, T], secrets: list[str] | None = None) -> T:
    """Run an async command; turn expected failures into messages and exit codes."""
    try:
        return asyncio.run(coro)
    except ConfigError as exc:
        output.fail(str(exc))
        raise typer.Exit(exitcodes.CONFIG) from None
    except LockHeld as exc:
        output.fail(f"the environment is busy: {exc}", "wait, or pass --lock-wait SECONDS")
        raise typer.Exit(exitcodes.LOCKED) from None
    except PromotionRefused as exc:
        output.fail(exc.message, exc.hint)
        raise typer.Exit(exitcodes.REFUSED) from None
    except ArtifactError as exc:
        output.fail(exc.message, exc.hint)
        raise typer.Exit(exitcodes.BUILD) from None
    except HookFailed as exc:
        shown = redact(exc.output, secrets or [])
        output.fail(str(exc), "nothing was deployed; output:\n" + shown)
        raise typer.Exit(exitcodes.BUILD) from None
    except DeployFailed as exc:
        output.host_errors(exc.errors, secrets or [])
        hint = "the previous release is serving; see `shipyard status` and `shipyard history`"
        if exc.outcome == "auto-rolled-back":
            hint = "every host is back on the previous release, and this one is marked bad"
        output.fail(exc.message, hint)
        raise typer.Exit(exitcodes.FAILED) from None
    except PhaseFailed as exc:
        output.host_errors(exc.errors, secrets or [])
        output.fail(str(exc))
        raise typer.Exit(_code_for(exc.errors)) from None
    except HostError as exc:
        output.host_errors([exc], secrets or [])
        raise typer.Exit(_code_for([exc])) from None
    except KeyboardInterrupt:
        output.fail("interrupted")
        raise typer.Exit(130) from None


def _code_for(errors: list[HostError]) -> int:
    if any(e.op in ("connect", "hello") for e in errors):
        return exitcodes.UNREACHABLE
    return exitcodes.FAILED


def _guard(action: Callable[[], T]) -> T:
    try:
        return action()
    except ConfigError as exc:
        output.fail(str(exc))
        raise typer.Exit(exitcodes.CONFIG) from None


@app.callback(invoke_without_command=True)
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        print(__version__)
        raise typer.Exit(0)


@config_app.command("check")
def config_check(
    env_name: Annotated[
        str | None, typer.Argument(metavar="[ENV]", help="One environment.")
    ] = None,
    config: ConfigOption = Path(DEFAULT_FILE),
    json_output: JsonOption = False,
) -> None:
    """Validate shipyard.yml; print the resolved config with secrets redacted."""
    loaded = _guard(lambda: ConfigFile.load(config))
    names = [env_name] if env_name else loaded.environment_names
    resolved: dict[str, Any] = {}
    problems = []
    for name in names:
        env = _guard(lambda n=name: loaded.environment(n))  # type: ignore[misc]
        data = env.model_dump(mode="json")
        data["secrets"] = {
            key: f"*** (from {'$' + ref.from_env if ref.from_env else ref.from_file})"
            for key, ref in env.secrets.items()
        }
        try:
            resolve_secrets(env, config)
        except ConfigError as exc:
            problems.append(str(exc))
        resolved[name] = data
    if json_output:
        output.print_json(resolved)
    else:
        import yaml

        output.console.print(yaml.safe_dump(resolved, sort_keys=False).rstrip(), markup=False)
    for problem in problems:
        output.fail(problem)
    if problems:
        raise typer.Exit(exitcodes.CONFIG)
    output.errors.print(f"{config}: ok ({', '.join(names)})")


@app.command(name="deploy")
def deploy_command(
    env_name: EnvArgument,
    ref: Annotated[str, typer.Option(help="Git ref to deploy.")] = "HEAD",
    message: Annotated[str, typer.Option(help="Why: recorded in the lock and history.")] = "",
    lock_wait: Annotated[
        float, typer.Option(help="Wait up to SECONDS for another deploy's lock.")
    ] = 0.0,
    allow_dirty: Annotated[
        bool, typer.Option(help="Deploy uncommitted changes (the release is marked dirty).")
    ] = False,
    config: ConfigOption = Path(DEFAULT_FILE),
) -> None:
    """Build REF and deploy it to ENV with zero downtime.

    An environment with `promotion.requires` only takes releases that passed that environment (see `shipyard promote`), and one with `promotion.approval` waits for a person's approval.
    """  # noqa: E501
    loaded = _guard(lambda: ConfigFile.load(config))
    env = _guard(lambda: loaded.environment(env_name))
    _deploy(loaded, env, config, ref, message, lock_wait, allow_dirty, kind="deploy")


def _deploy(
    loaded: ConfigFile,
    env: Environment,
    config: Path,
    ref: str,
    message: str,
    lock_wait: float,
    allow_dirty: bool,
    *,
    kind: str,
    observe_window: float | None = None,
) -> None:
    secrets = list(_guard(lambda: resolve_secrets(env, config)).values())  # fail early
    reporter = make_reporter()
    try:
        gates = _gates(env, config, ref, reporter, kind, secrets)
        started = time.monotonic()
        artifact = _run(_build(config, ref, allow_dirty))
        build_seconds = round(time.monotonic() - started, 3)
        if kind == "deploy":
            verdict = _run(required_verdict(loaded, env, artifact.release_id))
            if not verdict.allowed:
                output.fail(
                    f"{env.name} refuses release {artifact.release_id}: "
                    + "; ".join(verdict.reasons),
                    f"deploy it to {env.promotion.requires} and let it pass, then "
                    f"`shipyard promote {env.promotion.requires} {env.name}`; in an "
                    f"emergency: `shipyard hotfix {env.name} --ref REF --reason TEXT`",
                )
                raise typer.Exit(exitcodes.REFUSED)
        _run(
            approval_for(
                env,
                artifact.release_id,
                reporter,
                interactive=_interactive(),
                confirm=lambda question: typer.confirm(question, default=False),
            )
        )
        options = DeployOptions(
            ref=ref,
            message=message,
            lock_wait=lock_wait,
            allow_dirty=allow_dirty,
            trigger="hotfix" if kind == "hotfix" else trigger(),
            kind=kind,
            artifact=artifact,
            observe_window=observe_window,
            gates=gates,
            build_seconds=build_seconds,
        )
        result = _run(deploy(env, config, options, reporter), secrets)
    finally:
        reporter.close()
    phases = ", ".join(f"{k} {v:.2f}s" for k, v in result.timings.items())
    output.console.print(
        f"deployed {result.release_id} to {env.name} "
        f"(was {result.previous_release or 'nothing'}); {phases}",
        soft_wrap=True,
    )
    output.console.print(f"roll back with: shipyard rollback {env.name}")


def _gates(
    env: Environment, config: Path, ref: str, reporter: Reporter, kind: str, secrets: list[str]
) -> dict[str, Any]:
    """Quality gates before the build; a failure stops everything before any host."""
    from shipyard.execute.gating import gate_release
    from shipyard.gates import GatesFailed

    reporter.info(
        f"quality gates for {env.name}"
        + (" (hotfix: required ones only)" if kind == "hotfix" else "")
    )
    try:
        return gate_release(
            env, config, ref, reporter, include_optional=kind != "hotfix", secrets=secrets
        )
    except GatesFailed as exc:
        reporter.close()
        output.fail(f"{exc}; nothing was deployed", "run `shipyard gates` to see every finding")
        raise typer.Exit(exitcodes.GATES) from None


async def _build(config: Path, ref: str, allow_dirty: bool) -> Any:
    from shipyard.execute.deploy import artifact_cache
    from shipyard.release.artifact import build_artifact

    return build_artifact(config.parent, ref, allow_dirty=allow_dirty, cache_dir=artifact_cache())


def _interactive() -> bool:
    from shipyard.execute.identity import in_ci

    return sys.stdin.isatty() and not in_ci()


@app.command()
def hotfix(
    env_name: EnvArgument,
    ref: Annotated[str, typer.Option(help="Git ref with the fix.")],
    reason: Annotated[str, typer.Option(help="Why this cannot wait: recorded.")],
    lock_wait: Annotated[float, typer.Option(help="Wait up to SECONDS for the lock.")] = 0.0,
    config: ConfigOption = Path(DEFAULT_FILE),
) -> None:
    """The emergency lane: deploy REF now, skipping the promotion path.

    Skips the required environment, soak time and optional gates; never the health check, the lock, the artifact digest or the automatic rollback. The analysis window is `hotfix.observe_window`. Recorded with trigger `hotfix` and the reason.
    """  # noqa: E501
    if not reason.strip():
        output.fail("--reason must say why", "e.g. --reason 'payments failing since 10:02'")
        raise typer.Exit(exitcodes.CONFIG)
    loaded = _guard(lambda: ConfigFile.load(config))
    env = _guard(lambda: loaded.environment(env_name))
    _deploy(
        loaded,
        env,
        config,
        ref,
        reason,
        lock_wait,
        False,
        kind="hotfix",
        observe_window=env.hotfix.observe_window,
    )


@app.command(name="promote")
def promote_command(
    source: Annotated[str, typer.Argument(metavar="FROM", help="e.g. staging")],
    target: Annotated[str, typer.Argument(metavar="TO", help="e.g. production")],
    release: Annotated[
        str | None, typer.Argument(help="Release id; default: FROM's active release.")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Promote a release that did not pass FROM (needs --reason).")
    ] = False,
    reason: Annotated[str, typer.Option(help="Why: recorded in the history.")] = "",
    lock_wait: Annotated[float, typer.Option(help="Wait up to SECONDS for the lock.")] = 0.0,
    config: ConfigOption = Path(DEFAULT_FILE),
) -> None:
    """Deploy to TO the identical artifact (same sha256) that FROM ran successfully."""
    loaded = _guard(lambda: ConfigFile.load(config))
    env = _guard(lambda: loaded.environment(target))
    _guard(lambda: loaded.environment(source))
    secrets = _secret_values(env, config)
    reporter = make_reporter()
    try:
        result = _run(
            promote(
                loaded,
                source,
                target,
                release,
                reporter,
                force=force,
                reason=reason,
                lock_wait=lock_wait,
                interactive=_interactive(),
                confirm=lambda question: typer.confirm(question, default=False),
            ),
            secrets,
        )
    finally:
        reporter.close()
    output.console.print(
        f"promoted {result.release_id} from {source} to {target} "
        f"(was {result.previous_release or 'nothing'})"
    )


@app.command(name="approve")
def approve_command(
    env_name: EnvArgument,
    release: Annotated[str, typer.Argument(help="The release id to approve.")],
    note: Annotated[str, typer.Option(help="A note recorded with the approval.")] = "",
    config: ConfigOption = Path(DEFAULT_FILE),
) -> None:
    """Approve RELEASE for ENV (who and when are recorded on ENV's primary host)."""
    env = _guard(lambda: _load(config, env_name))
    record = _run(approve(env, release, note))
    output.console.print(f"approved {release} for {env.name} by {record['actor']}")


def _secret_values(env: Environment, config: Path) -> list[str]:
    try:
        return list(resolve_secrets(env, config).values())
    except ConfigError:
        return []


@app.command(name="rollback")
def rollback_command(
    env_name: EnvArgument,
    release: Annotated[
        str | None, typer.Argument(help="Release id; default: the previous good one.")
    ] = None,
    message: Annotated[str, typer.Option(help="Why: recorded in the lock and history.")] = "",
    lock_wait: Annotated[float, typer.Option(help="Wait up to SECONDS for the lock.")] = 0.0,
    config: ConfigOption = Path(DEFAULT_FILE),
) -> None:
    """Go back to RELEASE (default: the previous good release)."""
    env = _guard(lambda: _load(config, env_name))
    reporter = make_reporter()
    try:
        values = env.env | _guard(lambda: resolve_secrets(env, config))
        result = _run(
            rollback(
                env, release, reporter, env_values=values, lock_wait=lock_wait, message=message
            )
        )
    finally:
        reporter.close()
    how = "warm: one switch" if result.warm else "cold: booted, checked, switched"
    total = sum(result.timings.values())
    output.console.print(
        f"rolled back {env.name} to {result.release_id} ({how}) in {total:.2f}s; "
        f"was {result.previous_release}"
    )


@app.command()
def repair(
    env_name: EnvArgument,
    lock_wait: Annotated[float, typer.Option(help="Wait up to SECONDS for the lock.")] = 0.0,
    config: ConfigOption = Path(DEFAULT_FILE),
) -> None:
    """Converge ENV after a crash, a lost link or a host restart.

    Restarts supervisord, nginx and the active release where they are down, stops slots an interrupted deploy left booting, marks interrupted deployments, and puts every host on one release if a switch was cut short.
    """  # noqa: E501
    from shipyard.execute.converge import repair_environment

    env = _guard(lambda: _load(config, env_name))
    values = env.env | _guard(lambda: resolve_secrets(env, config))
    actions = _run(repair_environment(env, values, PlainReporter(stream=sys.stderr), lock_wait))
    for action in actions:
        output.console.print(f"- {action}", markup=False)
    output.console.print(
        f"{env.name} is consistent" + (" (nothing to do)" if not actions else ""), markup=False
    )


def _show(data: Any, json_output: bool, view: Callable[[Any], None]) -> None:
    """JSON for programs, the view's table for people."""
    if json_output:
        output.print_json(data)
    else:
        view(data)


@app.command()
def status(
    env_name: EnvArgument,
    config: ConfigOption = Path(DEFAULT_FILE),
    json_output: JsonOption = False,
) -> None:
    """Per host: active release, slots, health; and the lock."""
    env = _guard(lambda: _load(config, env_name))
    _show(_run(queries.status(env)), json_output, views.print_status)


@app.command()
def history(
    env_name: EnvArgument,
    limit: Annotated[int, typer.Option("-n", help="How many, newest first.")] = 20,
    config: ConfigOption = Path(DEFAULT_FILE),
    json_output: JsonOption = False,
) -> None:
    """Deployments and rollbacks, newest first (kept on the primary host)."""
    env = _guard(lambda: _load(config, env_name))
    _show(_run(queries.history(env, limit)), json_output, views.print_history)


@app.command()
def releases(
    env_name: EnvArgument,
    config: ConfigOption = Path(DEFAULT_FILE),
    json_output: JsonOption = False,
) -> None:
    """Releases on the hosts: what can be rolled back to, and each one's outcome."""
    env = _guard(lambda: _load(config, env_name))
    _show(_run(queries.releases(env)), json_output, views.print_releases)


@lock_app.command("status")
def lock_status(env_name: EnvArgument, config: ConfigOption = Path(DEFAULT_FILE)) -> None:
    """Who holds the lock, since when, why; whether it is stale."""
    env = _guard(lambda: _load(config, env_name))
    lock = _run(queries.lock_command(env, "status"))
    output.console.print(describe_lock(lock) if lock else f"{env.name} is not locked")


@lock_app.command("acquire")
def lock_acquire(
    env_name: EnvArgument,
    reason: Annotated[str, typer.Option(help="Why: shown to anyone who tries to deploy.")] = "",
    force: Annotated[bool, typer.Option(help="Take it even if someone holds it.")] = False,
    config: ConfigOption = Path(DEFAULT_FILE),
) -> None:
    """Hold the lock by hand (e.g. during maintenance) until `lock release`."""
    env = _guard(lambda: _load(config, env_name))
    lock = _run(queries.lock_command(env, "acquire", force=force, reason=reason))
    output.console.print(describe_lock(lock))


@lock_app.command("release")
def lock_release(
    env_name: EnvArgument,
    force: Annotated[
        bool, typer.Option(help="Release a lock someone else holds (e.g. a stale one).")
    ] = False,
    config: ConfigOption = Path(DEFAULT_FILE),
) -> None:
    """Release the lock."""
    env = _guard(lambda: _load(config, env_name))
    released = _run(queries.lock_command(env, "release", force=force))
    output.console.print(
        f"released: {describe_lock(released)}" if released else f"{env.name} was not locked"
    )


@app.command()
def logs(
    env_name: EnvArgument,
    slot: Annotated[
        str | None, typer.Option(help="blue or green; default: the active slot.")
    ] = None,
    lines: Annotated[int, typer.Option("-n", help="How many lines.")] = 100,
    follow: Annotated[
        bool, typer.Option("-f", "--follow", help="Keep printing new lines.")
    ] = False,
    config: ConfigOption = Path(DEFAULT_FILE),
) -> None:
    """The app's log lines from every host."""
    if slot not in (None, "blue", "green"):
        output.fail(f"--slot must be blue or green, not {slot!r}")
        raise typer.Exit(exitcodes.CONFIG)
    env = _guard(lambda: _load(config, env_name))
    _run(queries.logs(env, slot, lines, follow))


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Local port for the demo's nginx.")] = 8080,
    workdir: Annotated[
        Path, typer.Option(help="Where the demo keeps its repository and hosts.")
    ] = Path(".shipyard-demo"),
    stop: Annotated[bool, typer.Option(help="Stop the demo's processes and exit.")] = False,
) -> None:
    """Deploy the example app locally: v1, v2, then a rollback; print what happened."""
    from shipyard.cli.demo import run_demo, stop_demo

    if stop:
        stop_demo(workdir.resolve())
        return
    raise typer.Exit(run_demo(workdir.resolve(), port))


@app.command(name="host", hidden=True)
def host_command(
    op: Annotated[str, typer.Argument(help="Host operation.")],
    request: Annotated[str | None, typer.Option(help="Request JSON (default: stdin).")] = None,
    json_output: JsonOption = True,
) -> None:
    """Run one host operation (used by Shipyard itself over SSH)."""
    from shipyard.host.ops import main as host_main

    raise typer.Exit(host_main(op, request))


register_init(app)
register_gates(app)


def run() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        app()
    except BrokenPipeError:
        sys.exit(0)
