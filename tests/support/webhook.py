"""A real local webhook receiver: an HTTP server on loopback recording every POST (what
apprise's json:// and form:// URLs send), for the alert tests and the bench."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    at: float
    fields: dict[str, str]


@dataclass
class Receiver:
    port: int
    posts: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def json_url(self, path: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def form_url(self, path: str = "form") -> str:
        return f"form://127.0.0.1:{self.port}/{path}"

    def titles(self) -> list[str]:
        with self.lock:
            return [post.fields.get("title", "") for post in self.posts]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.posts) >= count:
                    return list(self.posts)
            time.sleep(0.02)
        with self.lock:
            return list(self.posts)


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    receiver = Receiver(0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length).decode("utf-8", "replace")
            kind = self.headers.get("Content-Type", "")
            if "json" in kind:
                fields = {k: str(v) for k, v in json.loads(raw or "{}").items()}
            else:
                fields = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
            with receiver.lock:
                receiver.posts.append(Received(self.path, time.time(), fields))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
