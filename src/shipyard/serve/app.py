"""The `shipyard serve` process: uvicorn serving the API, /metrics and the dashboard,
with the check scheduler and the deploy watch in the same event loop.

Everything that must survive a restart is in the store; the process itself keeps only
what it can read again (the newest results, the incident streaks, the deploy mirror).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount

from shipyard.config.shipyard_config import ShipyardConfig
from shipyard.serve import api
from shipyard.serve.alerts import Alerter, channels_of
from shipyard.serve.context import ServeContext
from shipyard.serve.host_sessions import HostSessions
from shipyard.serve.live import LiveDeploys
from shipyard.serve.mirror import Sources
from shipyard.serve.scheduler import Scheduler
from shipyard.serve.store import Store

log = logging.getLogger("shipyard.serve")


def open_context(config: ShipyardConfig) -> ServeContext:
    """The store named by `serve:` (SQLite by default), opened and migrated."""
    serve = config.serve
    if serve.store_secret is not None:
        target: str | Path | None = config.secret(serve.store_secret, "serve.store_secret")
    elif serve.store is not None:
        target = Path(serve.store).expanduser()
        if not target.is_absolute():
            target = config.path.parent / target
    else:
        target = None
    store = Store.open(target)
    hosts = HostSessions()  # every read of a host through one kept-open agent session
    live = LiveDeploys(Sources.through(hosts))
    return ServeContext(config, config.path, store, serve.base_url, live, hosts)


def _dashboard(ctx: ServeContext) -> list[BaseRoute]:
    """The dashboard engineer's `serve/web/app.py: create_app(ctx)`, when it is there."""
    try:
        from shipyard.serve.web.app import create_app  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return []
    return [Mount("/", app=create_app(ctx))]


def build_app(ctx: ServeContext, scheduler: Scheduler) -> Starlette:
    return Starlette(routes=[*api.routes(ctx, scheduler.latest), *_dashboard(ctx)])


async def serve(ctx: ServeContext, host: str, port: int, stop: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or `stop`): the scheduler, the deploy watch, uvicorn."""
    import uvicorn

    from shipyard.serve.backup_watch import BackupWatch
    from shipyard.serve.deploy_watch import DeployWatch, read_history
    from shipyard.serve.resources import ResourceSampler

    stop = stop or asyncio.Event()
    alerter = Alerter(channels_of(ctx.config), ctx.store, ctx.config.alerts.timeout)
    scheduler = Scheduler(ctx, alerter)
    watch = DeployWatch(ctx, scheduler.alert, lambda env: read_history(env, ctx.hosts))
    sampler = ResourceSampler(ctx, scheduler.alert, hosts=ctx.hosts)  # resources, alerts
    backups = BackupWatch(ctx, scheduler.alert, hosts=ctx.hosts)  # backup freshness, alerts
    app = build_app(ctx, scheduler)
    ctx.live.start()  # the dashboard's pollers (attached by create_app), in this loop

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:  # ours stop everything, in order
            yield

    server = Server(
        uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
        )
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    async def stopper() -> None:
        await stop.wait()
        server.should_exit = True

    try:
        async with _running(
            scheduler.run(stop), watch.run(stop), sampler.run(stop), backups.run(stop), stopper()
        ):
            await server.serve()
            stop.set()
    finally:
        await ctx.live.stop()
        await ctx.hosts.close()  # the kept host sessions: their agents end, SSH closes
        await asyncio.to_thread(alerter.close)  # the delivery worker


@contextlib.asynccontextmanager
async def _running(*coroutines: object) -> AsyncIterator[None]:
    tasks = [asyncio.ensure_future(c) for c in coroutines]  # type: ignore[call-overload]
    try:
        yield
    finally:
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 30)


def run_serve(config: ShipyardConfig, listen: str | None = None) -> None:
    """`shipyard serve`: blocks until stopped."""
    ctx = open_context(config)
    host, _, port = (listen or config.serve.listen).rpartition(":")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    log.info(
        "serving %d environment(s) on http://%s:%s (store: %s)",
        len(config.environments),
        host,
        port,
        ctx.store.where,
    )
    try:
        asyncio.run(serve(ctx, host.strip("[]"), int(port)))
    finally:
        ctx.store.close()
