"""serve's own HTTP routes: `/api/health`, `/api/checks[/ENV]`, the heartbeat push URL
`/api/heartbeat/ENV/NAME` and `/metrics`. The dashboard (serve/web/) mounts beside them.

A heartbeat is accepted only with its token (`Authorization: Bearer TOKEN` or
`?token=`), compared in constant time; the tokens are read from the secrets once, at
start, and never logged.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shipyard import __version__
from shipyard.config.loader import read_secret
from shipyard.config.observe import HeartbeatProbe
from shipyard.plan.check_results import CheckResult
from shipyard.serve import prom
from shipyard.serve.context import ServeContext

Latest = Callable[[str], Sequence[CheckResult]]


def heartbeat_tokens(ctx: ServeContext) -> dict[tuple[str, str], str]:
    """(env, heartbeat name) -> its token, read from the environment's secrets."""
    tokens = {}
    for name, env in ctx.config.environments.items():
        for check in ctx.config.checks(name):
            if isinstance(check, HeartbeatProbe):
                ref = env.secrets[check.token_secret]
                tokens[(name, check.name)] = read_secret(
                    check.token_secret, ref, name, ctx.config_path
                )
    return tokens


def routes(ctx: ServeContext, latest: Latest | None = None) -> list[Route]:
    newest: Latest = latest or ctx.store.latest_results
    tokens = heartbeat_tokens(ctx)
    registry = prom.registry_for(ctx, newest)

    async def health(request: Request) -> Response:
        return JSONResponse(
            {"ok": True, "version": __version__, "environments": list(ctx.config.environments)}
        )

    def env_checks(env: str) -> dict[str, object]:
        return {
            "results": [asdict(r) for r in newest(env)],
            "incidents": [
                asdict(i) | {"hosts": list(i.hosts)} for i in ctx.store.open_incidents(env)
            ],
        }

    async def checks(request: Request) -> Response:
        env = request.path_params.get("env")
        if env is not None:
            if env not in ctx.config.environments:
                return JSONResponse({"error": f"no environment {env!r}"}, status_code=404)
            return JSONResponse(await asyncio.to_thread(env_checks, env))
        every = {
            name: await asyncio.to_thread(env_checks, name) for name in ctx.config.environments
        }
        return JSONResponse({"environments": every})

    async def heartbeat(request: Request) -> Response:
        env, name = request.path_params["env"], request.path_params["name"]
        expected = tokens.get((env, name))
        if expected is None:
            return JSONResponse({"error": "no such heartbeat"}, status_code=404)
        given = request.query_params.get("token", "")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            given = header[7:].strip()
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return JSONResponse({"error": "wrong or missing token"}, status_code=403)
        at = time.time()
        await asyncio.to_thread(ctx.store.beat, env, name, at)
        return JSONResponse({"ok": True, "at": at})

    async def metrics(request: Request) -> Response:
        body = await asyncio.to_thread(prom.render, registry)
        return Response(body, media_type=prom.CONTENT_TYPE)

    return [
        Route("/api/health", health),
        Route("/api/checks", checks),
        Route("/api/checks/{env}", checks),
        Route("/api/heartbeat/{env}/{name}", heartbeat, methods=["GET", "POST"]),
        Route("/metrics", metrics),
    ]
