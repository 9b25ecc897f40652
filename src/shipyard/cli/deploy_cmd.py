"""`deploy`, `hotfix`, `promote`, `approve`: releases into environments, through the pipeline."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli import failures, output
from shipyard.cli.approver import TerminalApprover
from shipyard.cli.options import (
    DEFAULT_CONFIG,
    ConfigOption,
    EnvArgument,
    LockWaitOption,
    load_env,
    state_of,
)
from shipyard.errors import ExitCode

if TYPE_CHECKING:
    from shipyard.config.loader import ConfigFile
    from shipyard.execute import pipeline
    from shipyard.execute.outcomes import DeployResult


def register(app: typer.Typer) -> None:
    app.command(name="deploy")(deploy_command)
    app.command(name="hotfix")(hotfix_command)
    app.command(name="promote")(promote_command)
    app.command(name="approve")(approve_command)


WorkingTreeRuntimeOption = Annotated[
    bool,
    typer.Option(
        "--runtime-from-working-tree",
        help="Run with what the working tree's shipyard.yml says runs (start, build, "
        "workers, health, checks, env, hooks...) instead of the release's own committed "
        "file. Recorded in the history; refused where promotion.require_release_runtime "
        "is set.",
    ),
]


def _runtime(ctx: typer.Context, loaded: ConfigFile) -> pipeline.Runtime:
    from shipyard.cli.failure_alerts import deploy_alert_observers
    from shipyard.execute import pipeline
    from shipyard.execute.reporter import make_reporter

    return pipeline.Runtime(
        reporter=make_reporter(),
        approver=TerminalApprover(),
        observers=[*state_of(ctx).observers, *deploy_alert_observers(loaded)],
    )


def _report(result: DeployResult, env_name: str, verb: str) -> None:
    phases = ", ".join(f"{k} {v:.2f}s" for k, v in result.timings.items())
    output.console.print(
        f"{verb} {result.release_id} to {env_name} "
        f"(was {result.previous_release or 'nothing'}); {phases}",
        soft_wrap=True,
        markup=False,
    )
    output.console.print(f"roll back with: shipyard rollback {env_name}", markup=False)


def deploy_command(
    ctx: typer.Context,
    env_name: EnvArgument,
    ref: Annotated[str, typer.Option(help="Git ref to deploy.")] = "HEAD",
    message: Annotated[str, typer.Option(help="Why: recorded in the lock and history.")] = "",
    lock_wait: LockWaitOption = 0.0,
    allow_dirty: Annotated[
        bool, typer.Option(help="Deploy uncommitted changes (the release is marked dirty).")
    ] = False,
    runtime_from_working_tree: WorkingTreeRuntimeOption = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Build REF and deploy it to ENV with zero downtime.

    What runs (start, build, workers, health, checks, env) comes from the release's own shipyard.yml at REF; where (hosts, SSH, paths, nginx) and the environment's rules from the current file. The quality gates run first, on exactly the code that ships. An environment with `promotion.requires` only takes releases that passed that environment (see `shipyard promote`), and one with `promotion.approval` waits for a person's approval. With `rollout: {batch: N}` (or `"25%"`) the hosts switch batch by batch, the others serving the old release meanwhile; a failing batch puts every switched host back.
    """  # noqa: E501
    from shipyard.config.loader import ConfigFile
    from shipyard.execute import pipeline

    loaded = failures.guard(lambda: ConfigFile.load(config))
    runtime = _runtime(ctx, loaded)
    try:
        result = failures.run(
            pipeline.deploy(
                loaded,
                env_name,
                runtime,
                ref=ref,
                message=message,
                lock_wait=lock_wait,
                allow_dirty=allow_dirty,
                runtime_from_working_tree=runtime_from_working_tree,
            )
        )
    finally:
        runtime.reporter.close()
    _report(result, env_name, "deployed")


def hotfix_command(
    ctx: typer.Context,
    env_name: EnvArgument,
    ref: Annotated[str, typer.Option(help="Git ref with the fix.")],
    reason: Annotated[str, typer.Option(help="Why this cannot wait: recorded.")],
    lock_wait: LockWaitOption = 0.0,
    runtime_from_working_tree: WorkingTreeRuntimeOption = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """The emergency lane: deploy REF now, skipping the promotion path.

    Skips the required environment, soak time and optional gates; never the required gates, the approval, the health check, the lock, the artifact digest or the automatic rollback. The analysis window is `hotfix.observe_window`. Recorded with trigger `hotfix` and the reason.
    """  # noqa: E501
    if not reason.strip():
        output.fail("--reason must say why", "e.g. --reason 'payments failing since 10:02'")
        raise typer.Exit(ExitCode.CONFIG)
    from shipyard.config.loader import ConfigFile
    from shipyard.execute import pipeline

    loaded = failures.guard(lambda: ConfigFile.load(config))
    runtime = _runtime(ctx, loaded)
    try:
        result = failures.run(
            pipeline.hotfix(
                loaded,
                env_name,
                runtime,
                ref=ref,
                reason=reason,
                lock_wait=lock_wait,
                runtime_from_working_tree=runtime_from_working_tree,
            )
        )
    finally:
        runtime.reporter.close()
    _report(result, env_name, "hotfixed")


def promote_command(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(metavar="FROM", help="e.g. staging")],
    target: Annotated[str, typer.Argument(metavar="TO", help="e.g. production")],
    release: Annotated[
        str | None, typer.Argument(help="Release id; default: FROM's active release.")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Promote a release that did not pass FROM (needs --reason).")
    ] = False,
    reason: Annotated[str, typer.Option(help="Why: recorded in the history.")] = "",
    lock_wait: LockWaitOption = 0.0,
    runtime_from_working_tree: WorkingTreeRuntimeOption = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Deploy to TO the identical artifact (same sha256) that FROM ran successfully.

    TO runs what the release's own shipyard.yml says for TO (what was tested), whatever the working tree has; the differences are printed. TO's quality gates run on the commit first; `--force --reason` overrides FROM's verdict, and the override is recorded.
    """  # noqa: E501
    from shipyard.config.loader import ConfigFile
    from shipyard.execute import pipeline

    loaded = failures.guard(lambda: ConfigFile.load(config))
    failures.guard(lambda: (loaded.environment(source), loaded.environment(target)))
    runtime = _runtime(ctx, loaded)
    try:
        result = failures.run(
            pipeline.promote(
                loaded,
                source,
                target,
                runtime,
                release=release,
                force=force,
                reason=reason,
                lock_wait=lock_wait,
                runtime_from_working_tree=runtime_from_working_tree,
            )
        )
    finally:
        runtime.reporter.close()
    output.console.print(
        f"promoted {result.release_id} from {source} to {target} "
        f"(was {result.previous_release or 'nothing'})",
        markup=False,
    )


def approve_command(
    env_name: EnvArgument,
    release: Annotated[str, typer.Argument(help="The release id to approve.")],
    note: Annotated[str, typer.Option(help="A note recorded with the approval.")] = "",
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Approve RELEASE for ENV (who and when are recorded on ENV's primary host)."""
    from shipyard.execute import pipeline
    from shipyard.execute.approval import approve
    from shipyard.execute.reporter import PlainReporter

    env = failures.guard(lambda: load_env(config, env_name))

    async def go() -> str:
        runtime = pipeline.Runtime(reporter=PlainReporter(stream=sys.stderr))
        async with pipeline.primary_session(runtime, env) as session:
            return (await approve(session, env, release, note)).actor

    actor = failures.run(go())
    output.console.print(f"approved {release} for {env.name} by {actor}", markup=False)
