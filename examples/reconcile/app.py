#!/usr/bin/env python3
"""Reconcile: match bank statement lines against ledger entries, over HTTP.

The example app Shipyard deploys. Standard library only, so it boots on a bare
host with ``python3``. See README.md for endpoints, environment variables and
test hooks. Matching logic lives in ``reconcile_core.py`` next to this file.

    python3 app.py --port 8000
    python3 app.py --unix-socket /run/reconcile/blue.sock
"""

from __future__ import annotations

import argparse
import html
import json
import os
import signal
import socket
import socketserver
import stat
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import reconcile_core as core

APP_DIR = Path(__file__).resolve().parent
HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MAX_BODY = 10 * 1024 * 1024
# Idle keep-alive connections are kept longer than nginx keeps idle upstream
# connections (60s), so nginx is the side that closes them.
KEEPALIVE_TIMEOUT = 75.0
# Kept below supervisord's default stopwaitsecs (10s) so we exit before SIGKILL.
SHUTDOWN_GRACE = 5.0
SOCKET_MODE = 0o666  # access is controlled by the socket's directory

EXIT_STARTUP_FAILED = 1
EXIT_USAGE = 2
EXIT_CRASH_HOOK = 3

_TRUE = {"1", "true", "yes", "on"}


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def _header_safe(value: str) -> str:
    """Keep a value usable in an HTTP header (printable ASCII only)."""
    return "".join(c if " " <= c <= "~" else "?" for c in value).strip()


def _printable(value: str) -> str:
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in value)


def read_version(app_dir: Path = APP_DIR) -> str:
    try:
        version = (app_dir / "VERSION").read_text(encoding="utf-8").strip()
    except OSError:
        return "unknown"
    return _header_safe(version) or "unknown"


def release_id() -> str:
    return _header_safe(os.environ.get("SHIPYARD_RELEASE", "")) or "dev"


class Inflight:
    """Counts requests being handled, so shutdown can wait for them."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._count = 0

    def enter(self) -> None:
        with self._cond:
            self._count += 1

    def exit(self) -> None:
        with self._cond:
            self._count -= 1
            if self._count == 0:
                self._cond.notify_all()

    @property
    def count(self) -> int:
        with self._cond:
            return self._count

    def wait_idle(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._count == 0, timeout)


@dataclass
class AppState:
    version: str
    release: str
    fail_health: bool = False
    draining: threading.Event = field(default_factory=threading.Event)
    inflight: Inflight = field(default_factory=Inflight)
    _log_lock: threading.Lock = field(default_factory=threading.Lock)

    def log(self, line: str) -> None:
        with self._log_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_response(
    status: int, payload: object, headers: list[tuple[str, str]] | None = None
) -> Response:
    body = (json.dumps(payload, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    return Response(status, body, "application/json; charset=utf-8", headers or [])


class HttpError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        headers: list[tuple[str, str]] | None = None,
        **details: object,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []
        self.details = details

    def response(self) -> Response:
        return json_response(self.status, {"error": self.message, **self.details}, self.headers)


class UsageError(Exception):
    pass


class StartupError(Exception):
    pass


class ReconcileHandler(BaseHTTPRequestHandler):
    """One instance per connection; handles keep-alive requests in sequence."""

    protocol_version = "HTTP/1.1"
    timeout = KEEPALIVE_TIMEOUT

    state: AppState
    query: dict[str, list[str]]
    _status: int | None
    _bytes_out: int
    _started: float
    _counted: bool
    _body_consumed: bool

    def __init__(
        self,
        request: Any,
        client_address: Any,
        server: socketserver.BaseServer,
        *,
        state: AppState,
    ) -> None:
        self.state = state
        self.server_version = f"reconcile/{state.version}"
        self._reset()
        super().__init__(request, client_address, server)

    def version_string(self) -> str:
        return self.server_version

    def _reset(self) -> None:
        self.query = {}
        self._status = None
        self._bytes_out = 0
        self._started = time.monotonic()
        self._counted = False
        self._body_consumed = False

    # -- request lifecycle -------------------------------------------------

    def handle_one_request(self) -> None:
        self._reset()
        try:
            super().handle_one_request()
        finally:
            # Log before leaving the in-flight count: shutdown waits on that
            # count, and no thread should be writing to stdout once it returns.
            if self._status is not None:
                self._access_log()
            if self._counted:
                self.state.inflight.exit()

    def parse_request(self) -> bool:
        # A request line has arrived: from here on the request is in flight
        # (this runs before http.server answers "Expect: 100-continue").
        self._started = time.monotonic()
        self.state.inflight.enter()
        self._counted = True
        return super().parse_request()

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        self.query = parse_qs(url.query)
        try:
            methods = ROUTES.get(url.path)
            if methods is None:
                raise HttpError(
                    HTTPStatus.NOT_FOUND, f"no such endpoint: {url.path}", endpoints=list(ROUTES)
                )
            route = methods.get("GET" if self.command == "HEAD" else self.command)
            if route is None:
                allowed = sorted({*methods, *(["HEAD"] if "GET" in methods else [])})
                raise HttpError(
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    f"{self.command} is not allowed on {url.path}",
                    headers=[("Allow", ", ".join(allowed))],
                    allowed=allowed,
                )
            response = route(self)
        except HttpError as exc:
            response = exc.response()
        except Exception:
            sys.stderr.write(f"error handling {_printable(self.requestline)}:\n")
            traceback.print_exc()
            response = json_response(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"})
        self._send(response)

    def read_body(self) -> bytes:
        if "Transfer-Encoding" in self.headers:
            raise HttpError(
                HTTPStatus.LENGTH_REQUIRED,
                "chunked request bodies are not supported; send Content-Length",
            )
        raw = self.headers.get("Content-Length")
        if raw is None:
            raise HttpError(HTTPStatus.LENGTH_REQUIRED, "Content-Length header required")
        raw = raw.strip()
        if not (raw.isascii() and raw.isdigit()):
            raise HttpError(HTTPStatus.BAD_REQUEST, f"invalid Content-Length {raw!r}")
        length = int(raw)
        if length > MAX_BODY:
            raise HttpError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"request body too large (limit is {MAX_BODY} bytes)",
            )
        body = self.rfile.read(length)
        self._body_consumed = True
        if len(body) != length:
            self.close_connection = True
            raise HttpError(HTTPStatus.BAD_REQUEST, "request body ended early")
        return body

    # -- responses ------------------------------------------------------------

    def _discard_unread_body(self) -> bool:
        """Read and drop a request body no endpoint consumed (e.g. before a 404/415).

        Answering without reading it would make the client's upload fail with a
        broken pipe or reset. Returns False when the body cannot be skipped
        (chunked, invalid or oversized length): then the connection must close.
        """
        if self._body_consumed:
            return True
        if "Transfer-Encoding" in self.headers:
            return False
        raw = self.headers.get("Content-Length", "").strip()
        if raw in ("", "0"):
            return True
        if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_BODY:
            return False
        try:
            skipped = len(self.rfile.read(int(raw)))
        except OSError:
            return False
        self._body_consumed = True
        return skipped == int(raw)

    def _send(self, response: Response) -> None:
        # Close instead of keeping alive when the client asked to, when we are
        # shutting down, or when a request body could not be skipped.
        close = (
            self.close_connection or not self._discard_unread_body() or self.state.draining.is_set()
        )
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in response.headers:
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
        elif self.request_version == "HTTP/1.0":
            self.send_header("Connection", "keep-alive")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
            self._bytes_out = len(response.body)

    def end_headers(self) -> None:
        # Every response, including errors raised inside http.server itself.
        self.send_header("X-App-Version", self.state.version)
        self.send_header("X-Release", self.state.release)
        super().end_headers()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """JSON instead of http.server's HTML error page (malformed requests etc.)."""
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Error"
        payload = {"error": message or phrase}
        if explain:
            payload["detail"] = explain
        self.close_connection = True
        self._send(json_response(code, payload))

    # -- logging ----------------------------------------------------------------

    def address_string(self) -> str:
        # On AF_UNIX the peer address is '' rather than (host, port).
        if isinstance(self.client_address, tuple) and self.client_address:
            return str(self.client_address[0])
        return "unix"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if isinstance(code, int):
            self._status = int(code)

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} {_printable(format % args)}\n")

    def _access_log(self) -> None:
        elapsed_ms = (time.monotonic() - self._started) * 1000
        request = _printable(getattr(self, "requestline", "")) or "-"
        self.state.log(
            f"{self.address_string()} - - [{self.log_date_time_string()}] "
            f'"{request}" {self._status} {self._bytes_out} {elapsed_ms:.1f}ms'
        )


# -- endpoints -------------------------------------------------------------------

INDEX_HTML = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Reconcile</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 42rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.5; color: #222; }}
code, pre {{ background: #f3f3f3; border-radius: 3px; }}
code {{ padding: 0 .25rem; }}
pre {{ padding: .6rem; overflow-x: auto; }}
label {{ display: block; margin: .7rem 0; }}
.meta {{ color: #666; font-size: .9rem; }}
</style>
</head>
<body>
<h1>Reconcile</h1>
<p class="meta">Version <strong>{version}</strong> &middot; release <code>{release}</code></p>
<p>Match your bank statement against your ledger. Upload both as CSV files with the
columns <code>date,description,amount</code> (ISO dates, decimal amounts). Each statement
line is paired with a ledger entry of exactly the same amount dated within a few days;
whatever is left over on either side is what needs a closer look.</p>
<form method="post" action="reconcile" enctype="multipart/form-data">
<label>Bank statement (CSV)
<input type="file" name="statement" accept=".csv,text/csv" required></label>
<label>Ledger (CSV)
<input type="file" name="ledger" accept=".csv,text/csv" required></label>
<label>Date window in days
<input type="number" name="days" value="{days}" min="0" max="{max_days}"></label>
<button type="submit">Reconcile</button>
</form>
<p>The result is JSON. To try it from a shell with the built-in sample:</p>
<pre>curl -s http://{host}/api/sample |
  curl -s -H 'Content-Type: application/json' --data-binary @- http://{host}/reconcile</pre>
</body>
</html>
"""


def handle_index(handler: ReconcileHandler) -> Response:
    page = INDEX_HTML.format(
        version=html.escape(handler.state.version),
        release=html.escape(handler.state.release),
        days=core.DEFAULT_DAYS,
        max_days=core.MAX_DAYS,
        host=html.escape(handler.headers.get("Host") or f"{HOST}:{DEFAULT_PORT}"),
    )
    return Response(HTTPStatus.OK, page.encode("utf-8"), "text/html; charset=utf-8")


def handle_health(handler: ReconcileHandler) -> Response:
    state = handler.state
    if state.fail_health:
        return json_response(
            HTTPStatus.SERVICE_UNAVAILABLE,
            {
                "status": "failing",
                "version": state.version,
                "release": state.release,
                "reason": "RECONCILE_FAIL_HEALTH is set (test hook)",
            },
        )
    return json_response(
        HTTPStatus.OK, {"status": "ok", "version": state.version, "release": state.release}
    )


def handle_sample(handler: ReconcileHandler) -> Response:
    return json_response(
        HTTPStatus.OK,
        {
            "statement": core.SAMPLE_STATEMENT,
            "ledger": core.SAMPLE_LEDGER,
            "days": core.DEFAULT_DAYS,
        },
    )


def handle_reconcile(handler: ReconcileHandler) -> Response:
    content_type = handler.headers.get_content_type()
    if content_type not in ("application/json", "multipart/form-data"):
        raise HttpError(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "send multipart/form-data with files 'statement' and 'ledger', or "
            'application/json {"statement": "<csv text>", "ledger": "<csv text>"}',
        )
    body = handler.read_body()
    if content_type == "application/json":
        statement_text, ledger_text, days = _fields_from_json(body)
    else:
        statement_text, ledger_text, days = _fields_from_multipart(
            handler.headers.get("Content-Type", ""), body
        )
    if "days" in handler.query:
        days = handler.query["days"][-1]
    window = parse_days(days)
    try:
        statement = core.parse_csv(statement_text, "statement")
        ledger = core.parse_csv(ledger_text, "ledger")
    except core.CsvError as exc:
        raise HttpError(
            HTTPStatus.BAD_REQUEST, str(exc), source=exc.source, line=exc.line, problem=exc.problem
        ) from None
    return json_response(HTTPStatus.OK, core.reconcile(statement, ledger, window).to_json())


def parse_days(value: object) -> int:
    if value is None or value == "":
        return core.DEFAULT_DAYS
    days: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        days = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        days = int(value.strip())
    if days is None or not 0 <= days <= core.MAX_DAYS:
        raise HttpError(
            HTTPStatus.BAD_REQUEST,
            f"days must be a whole number from 0 to {core.MAX_DAYS}, got {value!r}",
        )
    return days


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM); bank exports in Windows-1252 are accepted too."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _fields_from_json(body: bytes) -> tuple[str, str, object]:
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"invalid JSON body: {exc}") from None
    if not isinstance(payload, dict):
        raise HttpError(
            HTTPStatus.BAD_REQUEST,
            'JSON body must be an object {"statement": "<csv text>", "ledger": "<csv text>"}',
        )
    texts = []
    for key in ("statement", "ledger"):
        value = payload.get(key)
        if not isinstance(value, str):
            raise HttpError(
                HTTPStatus.BAD_REQUEST, f"JSON field {key!r} must be a string of CSV text"
            )
        texts.append(value)
    return texts[0], texts[1], payload.get("days")


def parse_multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    """Form fields of a multipart/form-data body, by name (first one wins)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(EmailMessage, policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise HttpError(HTTPStatus.BAD_REQUEST, "malformed multipart/form-data body")
    fields: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields.setdefault(name, payload)
    return fields


def _fields_from_multipart(content_type: str, body: bytes) -> tuple[str, str, object]:
    fields = parse_multipart(content_type, body)
    missing = [name for name in ("statement", "ledger") if name not in fields]
    if missing:
        raise HttpError(
            HTTPStatus.BAD_REQUEST,
            f"multipart form is missing field(s): {', '.join(missing)}",
            received=sorted(fields),
        )
    days = fields.get("days")
    return (
        decode_text(fields["statement"]),
        decode_text(fields["ledger"]),
        None if days is None else days.decode("latin-1"),
    )


Route = Callable[[ReconcileHandler], Response]
ROUTES: dict[str, dict[str, Route]] = {
    "/": {"GET": handle_index},
    "/healthz": {"GET": handle_health},
    "/api/sample": {"GET": handle_sample},
    "/reconcile": {"POST": handle_reconcile},
}


# -- servers -----------------------------------------------------------------------


class _Threading(socketserver.ThreadingMixIn):
    daemon_threads = True
    block_on_close = False  # shutdown waits for in-flight requests itself, with a bound
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return  # client went away
        sys.stderr.write("unhandled error while serving a connection:\n")
        traceback.print_exc()


class ThreadingTCPServer(_Threading, socketserver.TCPServer):
    allow_reuse_address = True


class ThreadingUnixServer(_Threading, socketserver.UnixStreamServer):
    pass


@dataclass
class Listener:
    server: socketserver.BaseServer
    where: str
    socket_path: str | None = None
    socket_id: tuple[int, int] | None = None

    def close(self) -> None:
        """Close the listening socket; remove the socket file if it is still ours."""
        self.server.server_close()
        if self.socket_path is None:
            return
        try:
            st = os.lstat(self.socket_path)
            if (st.st_dev, st.st_ino) == self.socket_id:
                os.unlink(self.socket_path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            sys.stderr.write(f"reconcile: could not remove {self.socket_path}: {exc}\n")


Handler = Callable[[Any, Any, socketserver.BaseServer], ReconcileHandler]


def _socket_is_live(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except TimeoutError:
            return True  # someone is listening, just busy
        except OSError:
            return False
        return True


def remove_stale_socket(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise StartupError(f"{path} exists and is not a socket; not removing it")
    if _socket_is_live(path):
        raise StartupError(f"another process is already listening on {path}")
    os.unlink(path)


def listen_unix(path: str, handler: Handler) -> Listener:
    try:
        remove_stale_socket(path)
        server = ThreadingUnixServer(path, handler)
        os.chmod(path, SOCKET_MODE)
        st = os.stat(path)
    except OSError as exc:
        raise StartupError(f"cannot listen on unix socket {path}: {exc}") from None
    return Listener(server, f"unix:{path}", path, (st.st_dev, st.st_ino))


def listen_tcp(port: int, handler: Handler) -> Listener:
    try:
        server = ThreadingTCPServer((HOST, port), handler)
    except OSError as exc:
        raise StartupError(f"cannot listen on {HOST}:{port}: {exc}") from None
    return Listener(server, f"http://{HOST}:{server.server_address[1]}")


# -- startup -------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="app.py", description="Reconcile bank statements against a ledger (HTTP server)."
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--unix-socket",
        metavar="PATH",
        help="listen on this unix socket (default: $SHIPYARD_SOCKET)",
    )
    where.add_argument(
        "--port",
        type=int,
        help=f"listen on {HOST}:PORT (default: $PORT, else {DEFAULT_PORT}; 0 picks a free port)",
    )
    return parser.parse_args(argv)


def choose_address(args: argparse.Namespace) -> tuple[str, str | int]:
    """("unix", path) or ("tcp", port). Flags beat environment; a socket beats a port."""
    if args.unix_socket:
        return "unix", str(args.unix_socket)
    port: int | None = args.port
    if port is None:
        socket_path = os.environ.get("SHIPYARD_SOCKET", "")
        if socket_path:
            return "unix", socket_path
        raw = os.environ.get("PORT", "").strip()
        if not raw:
            return "tcp", DEFAULT_PORT
        if not (raw.isascii() and raw.isdigit()):
            raise UsageError(f"PORT must be a number, got {raw!r}")
        port = int(raw)
    if not 0 <= port <= 65535:
        raise UsageError(f"port must be between 0 and 65535, got {port}")
    return "tcp", port


def boot_delay() -> float:
    raw = os.environ.get("RECONCILE_BOOT_DELAY", "").strip()
    if not raw:
        return 0.0
    try:
        delay = float(raw)
    except ValueError:
        raise UsageError(f"RECONCILE_BOOT_DELAY must be a number of seconds, got {raw!r}") from None
    if not 0 <= delay < float("inf"):
        raise UsageError(f"RECONCILE_BOOT_DELAY must be >= 0, got {raw!r}")
    return delay


def main(argv: list[str] | None = None) -> int:
    if _flag("RECONCILE_CRASH"):
        print(
            "reconcile: RECONCILE_CRASH is set: exiting with status 3 (test hook)", file=sys.stderr
        )
        return EXIT_CRASH_HOOK
    args = parse_args(argv)
    try:
        kind, address = choose_address(args)
        delay = boot_delay()
    except UsageError as exc:
        print(f"reconcile: {exc}", file=sys.stderr)
        return EXIT_USAGE

    state = AppState(
        version=read_version(), release=release_id(), fail_health=_flag("RECONCILE_FAIL_HEALTH")
    )
    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    if delay:
        state.log(
            f"reconcile {state.version}: waiting {delay:g}s before binding (RECONCILE_BOOT_DELAY)"
        )
        if stop.wait(delay):
            state.log(f"reconcile: {received[0]} during boot delay, exiting")
            return 0

    handler: Handler = partial(ReconcileHandler, state=state)
    try:
        if kind == "unix":
            listener = listen_unix(str(address), handler)
        else:
            listener = listen_tcp(int(address), handler)
    except StartupError as exc:
        print(f"reconcile: {exc}", file=sys.stderr)
        return EXIT_STARTUP_FAILED

    accept = threading.Thread(
        target=listener.server.serve_forever,
        kwargs={"poll_interval": 0.1},
        name="reconcile-accept",
        daemon=True,
    )
    accept.start()
    hooks = " (RECONCILE_FAIL_HEALTH is set)" if state.fail_health else ""
    state.log(
        f"reconcile {state.version} release {state.release} listening on {listener.where} "
        f"pid {os.getpid()}{hooks}"
    )

    while not stop.wait(0.5):
        pass
    state.draining.set()
    state.log(f"reconcile: {received[0]}, draining ({state.inflight.count} request(s) in flight)")
    listener.server.shutdown()  # stop accepting
    listener.close()  # close the listening socket, remove the socket file
    if state.inflight.wait_idle(SHUTDOWN_GRACE):
        state.log("reconcile: stopped")
    else:
        state.log(
            f"reconcile: stopped; {state.inflight.count} request(s) still running "
            f"after {SHUTDOWN_GRACE:g}s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
