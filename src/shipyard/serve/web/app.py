"""The dashboard: server-rendered pages, their JSON under `/api/`, a live view by SSE.

`create_app(ctx)` builds the starlette application `shipyard serve` runs. Every page
needs a session (a password login) or an API token; both are checked against scrypt
hashes (`auth.py`). Sessions live in a signed cookie (HttpOnly, SameSite=Strict, Secure
when served over HTTPS); every form carries a CSRF token bound to the session. The
dashboard only reads: it never starts a deploy. Its one write, when `serve.auth.allow_ratings`
(the default) says so, is a signed-in person's 1-10 confidence rating from the delivery page.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, quote

from markupsafe import Markup
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from shipyard.config.dashboard import DashboardAuth
from shipyard.config.shipyard_config import ShipyardConfig
from shipyard.plan.confidence import parse_rating_form
from shipyard.serve.live import LiveDeploys
from shipyard.serve.reads import DashboardStore
from shipyard.serve.web import auth, pages
from shipyard.serve.web.buckets import BucketCache

HERE = Path(__file__).parent
SESSION_COOKIE = "shipyard_session"
SESSION_HOURS = 12
MAX_FORM_BYTES = 4096
SSE_KEEPALIVE = 15.0
PUBLIC_PATHS = ("/login", "/static/")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class WebContext(Protocol):
    """What the dashboard needs of `serve`'s ServeContext."""

    @property
    def config(self) -> ShipyardConfig: ...

    @property
    def store(self) -> DashboardStore: ...

    @property
    def live(self) -> LiveDeploys: ...

    @property
    def base_url(self) -> str: ...


@dataclass(frozen=True)
class AuthSettings:
    """Who may look (config `serve.auth`): hashes only, never the password itself."""

    password_hash: str | None = None
    token_hash: str | None = None
    secure_cookies: bool = False  # set when the dashboard is reached over HTTPS
    session_key: bytes = b""  # empty: a random key per process (a restart logs out)
    session_hours: float = SESSION_HOURS
    allow_ratings: bool = True  # the delivery page's confidence form (the only write)

    @property
    def configured(self) -> bool:
        return bool(self.password_hash or self.token_hash)

    @classmethod
    def from_config(cls, config: DashboardAuth, base_url: str) -> AuthSettings:
        secure = config.secure_cookies
        return cls(
            password_hash=config.password_hash,
            token_hash=config.token_hash,
            secure_cookies=base_url.startswith("https://") if secure is None else secure,
            session_hours=config.session_hours,
            allow_ratings=config.allow_ratings,
        )


Handler = Callable[[Request], Awaitable[Response]]


def _fmt_time(at: object) -> str:
    if not isinstance(at, int | float):
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


def _fmt_ago(at: object) -> str:
    if not isinstance(at, int | float):
        return "never"
    seconds = max(time.time() - at, 0)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def _fmt_seconds(value: object) -> str:
    if not isinstance(value, int | float):
        return "-"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["when"] = _fmt_time
    templates.env.filters["ago"] = _fmt_ago
    templates.env.filters["seconds"] = _fmt_seconds
    templates.env.filters["svg"] = Markup  # only markup that svg.py escaped itself
    return templates


def create_app(ctx: WebContext, settings: AuthSettings | None = None) -> Starlette:
    """The dashboard of `ctx` (sign-in from `serve.auth` unless `settings` are given).

    It attaches `ctx.live` to the configuration's environments and starts its pollers
    with the app's lifespan or, mounted in an app that runs none, at the first request.
    """
    settings = settings or AuthSettings.from_config(ctx.config.serve.auth, ctx.base_url)
    if not ctx.live.attached:
        ctx.live.attach(ctx.config.environments, ctx.store)
    session_key = settings.session_key or os.urandom(32)
    templates = _templates()
    token_ok = auth.TokenChecker(settings.token_hash)
    live, store = ctx.live, ctx.store
    buckets = BucketCache(store)

    def session_id(request: Request) -> str:
        sid = request.session.get("sid")
        if not isinstance(sid, str):
            sid = auth.new_session_id()
            request.session["sid"] = sid
        return sid

    def render(request: Request, name: str, data: dict[str, Any], status: int = 200) -> Response:
        context = {
            "data": data,
            "csrf": auth.csrf_token(session_key, session_id(request)),
            "signed_in": bool(request.session.get("user")),
            "nav": request.url.path,
        }
        return templates.TemplateResponse(request, name, context, status_code=status)

    def page(template: str, build: Callable[[Request], dict[str, Any]]) -> tuple[Handler, Handler]:
        async def html(request: Request) -> Response:
            return render(request, template, build(request))

        async def api(request: Request) -> Response:
            return JSONResponse(build(request))

        return html, api

    def env_of(request: Request) -> str:
        name = str(request.path_params["env"])
        if name not in live.envs:
            raise HTTPException(404, f"no environment named {name!r}")
        return name

    def query(request: Request, key: str, allowed: list[str] | tuple[str, ...]) -> str | None:
        value = request.query_params.get(key) or None
        return value if value in allowed else None

    env_html, env_api = page(
        "environment.html", lambda r: pages.environment(live, store, env_of(r))
    )
    envs_html, envs_api = page("environments.html", lambda r: pages.environments(live, store))
    live_html, live_api = page("live.html", lambda r: pages.live_view(live, env_of(r)))
    history_html, history_api = page(
        "history.html",
        lambda r: pages.history(
            live,
            env=query(r, "env", sorted(live.envs)),
            outcome=query(r, "outcome", pages.OUTCOMES),
        ),
    )
    checks_html, checks_api = page(
        "checks.html",
        lambda r: pages.checks(
            buckets, env_of(r), query(r, "period", list(pages.PERIODS)) or "24h"
        ),
    )

    def delivery_page(request: Request) -> dict[str, Any]:
        data = pages.delivery(live, store, env_of(request))
        data["allow_ratings"] = settings.allow_ratings
        return data

    delivery_html, delivery_api = page("delivery.html", delivery_page)

    async def rate(request: Request) -> Response:
        """The delivery page's confidence form: a session with its CSRF token only."""
        name = env_of(request)
        if not settings.allow_ratings:
            return PlainTextResponse(
                "recording ratings from the dashboard is off (serve.auth.allow_ratings: false):"
                f" use `shipyard confidence {name} SCORE`",
                403,
            )
        form = await _form(request)
        if not request.session.get("user") or not auth.csrf_valid(
            session_key, request.session.get("sid"), form.get("csrf")
        ):
            return PlainTextResponse("CSRF token missing or wrong: reload the page", 403)
        rating = parse_rating_form(form.get("score", ""), form.get("who", ""), form.get("note", ""))
        if isinstance(rating, str):
            return PlainTextResponse(f"rating not recorded: {rating}", 400)
        store.add_rating(name, rating.who, time.time(), rating.score, rating.note)
        return RedirectResponse(f"/env/{quote(name)}/delivery#confidence", status_code=303)

    resources_html, resources_api = page(
        "resources.html", lambda r: pages.resources(store, env_of(r))
    )

    async def login_form(request: Request) -> Response:
        return render(request, "login.html", {"error": None, "next": _safe_next(request)})

    async def login(request: Request) -> Response:
        form = await _form(request)
        if not auth.csrf_valid(session_key, request.session.get("sid"), form.get("csrf")):
            return PlainTextResponse("CSRF token missing or wrong: reload the page", 403)
        ok = settings.password_hash is not None and await asyncio.to_thread(
            auth.verify_secret, form.get("password", ""), settings.password_hash
        )
        if not ok:
            data = {"error": "wrong password", "next": _safe_next(request)}
            return render(request, "login.html", data, status=401)
        request.session.clear()  # a new session id: no fixation
        request.session.update({"sid": auth.new_session_id(), "user": True, "at": time.time()})
        return RedirectResponse(_safe_next(request), status_code=303)

    async def logout(request: Request) -> Response:
        form = await _form(request)
        if not auth.csrf_valid(session_key, request.session.get("sid"), form.get("csrf")):
            return PlainTextResponse("CSRF token missing or wrong: reload the page", 403)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    async def live_stream(request: Request) -> Response:
        name = env_of(request)
        after = int(request.query_params.get("after", "0") or 0)

        async def stream() -> AsyncIterator[str]:
            async with live.subscribe(name) as queue:
                for event in live.state(name).events:  # what came before the subscription
                    if event.id > after:
                        yield _sse(pages.event_row(event))
                yield ": subscribed\n\n"
                while True:
                    try:
                        event = await asyncio.wait_for(queue.get(), SSE_KEEPALIVE)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if event.id > after:
                        yield _sse(pages.event_row(event))

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    routes = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", envs_html),
        Route("/env/{env}", env_html),
        Route("/env/{env}/live", live_html),
        Route("/env/{env}/checks", checks_html),
        Route("/env/{env}/delivery", delivery_html),
        Route("/env/{env}/confidence", rate, methods=["POST"]),
        Route("/env/{env}/resources", resources_html),
        Route("/history", history_html),
        Route("/api/environments", envs_api),
        Route("/api/environments/{env}", env_api),
        Route("/api/environments/{env}/live", live_api),
        Route("/api/environments/{env}/live/stream", live_stream),
        Route("/api/environments/{env}/checks", checks_api),
        Route("/api/environments/{env}/delivery", delivery_api),
        Route("/api/environments/{env}/resources", resources_api),
        Route("/api/history", history_api),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        live.start()
        try:
            yield
        finally:
            await live.stop()

    async def guard(request: Request, call_next: Handler) -> Response:
        live.start()  # no-op once running
        path = request.url.path
        if not path.startswith(PUBLIC_PATHS) and not _allowed(request, settings, token_ok):
            response = _refusal(request, settings)
        else:
            response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    return Starlette(
        routes=routes,
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=session_key.hex(),
                session_cookie=SESSION_COOKIE,
                max_age=int(settings.session_hours * 3600),
                same_site="strict",
                https_only=settings.secure_cookies,
            ),
            Middleware(BaseHTTPMiddleware, dispatch=guard),
        ],
        lifespan=lifespan,
    )


def _allowed(request: Request, settings: AuthSettings, token_ok: auth.TokenChecker) -> bool:
    if request.session.get("user") and settings.password_hash:
        return True
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return token_ok(header[7:].strip())
    return False


def _refusal(request: Request, settings: AuthSettings) -> Response:
    if not settings.configured:
        return PlainTextResponse(
            "the dashboard has no password or token yet: run `shipyard serve --hash-password`"
            " and put the hash in serve.auth.password_hash (or token_hash)",
            503,
        )
    if request.url.path.startswith("/api/"):
        return JSONResponse(
            {"error": "not signed in", "hint": "send Authorization: Bearer <token>"},
            401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def _safe_next(request: Request) -> str:
    """Where to go after signing in: a path on this site only (never `//host` or a URL)."""
    target = request.query_params.get("next", "/")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def _form(request: Request) -> dict[str, str]:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in parsed.items()}


def _sse(data: dict[str, Any]) -> str:
    return f"id: {data['id']}\nevent: deploy\ndata: {json.dumps(data)}\n\n"
