"""An HTTP server whose health answer a test switches between up and down."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Switch:
    port: int
    up: bool = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def switchable_server() -> Iterator[Switch]:
    switch = Switch(0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = (200, b"ok\n") if switch.up else (503, b"down\n")
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    switch.port = int(server.server_address[1])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield switch
    finally:
        server.shutdown()
        server.server_close()
