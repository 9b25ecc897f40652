"""A tiny HTTP proxy for apt inside a booted test root, to the package mirror only.

The booted root (tests/support/booted_root.py) reaches nothing but the host side of its
veth pair; apt inside it is configured with `Acquire::http::Proxy` pointing here.
`MirrorProxy` forwards plain `GET`/`HEAD` requests (`GET http://host/path HTTP/1.1`) and
tunnels `CONNECT host:443`, both only to the hosts that this machine's own apt sources
name (`mirror_hosts()`, read from /etc/apt/sources.list*); anything else gets 403.
Bodies are read whole before they are passed on (apt's files are a few MiB at most), so
every answer has a Content-Length and keep-alive connections stay in step.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import select
import socket
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

_HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "proxy-authorization",
    "proxy-authenticate", "te", "trailer", "transfer-encoding", "upgrade",
}  # fmt: skip
_URI = re.compile(r"(?:^|\s)(?:URIs:|deb(?:-src)?(?:\s+\[[^\]]*\])?)\s+((?:https?://\S+\s*)+)")


def mirror_hosts(sources: Iterable[Path] | None = None) -> frozenset[str]:
    """The host names of every http(s) URI in apt's sources (one-line and deb822)."""
    if sources is None:
        apt = Path("/etc/apt")
        sources = [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*"))]
    hosts = set()
    for path in sources:
        with contextlib.suppress(OSError):
            for line in path.read_text().splitlines():
                if line.lstrip().startswith("#"):
                    continue
                for match in _URI.finditer(line):
                    for uri in match.group(1).split():
                        if name := urlsplit(uri).hostname:
                            hosts.add(name.lower())
    return frozenset(hosts)


class MirrorProxy:
    """A threaded proxy on ADDRESS:PORT (0: any free port) that allows only `allowed`."""

    def __init__(self, address: str, allowed: frozenset[str], port: int = 0) -> None:
        self.allowed = allowed
        self.refused: list[str] = []  # what was asked for and not allowed
        self.forwarded = 0
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = ThreadingHTTPServer((address, port), Handler)
        self._server.daemon_threads = True
        self.address = address
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    def start(self) -> MirrorProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    owner: MirrorProxy
    protocol_version = "HTTP/1.1"
    timeout = 60

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    def _allowed(self, host: str | None) -> bool:
        ok = host is not None and host.lower() in self.owner.allowed
        if not ok:
            self.owner.refused.append(f"{self.command} {self.path}")
            self.send_error(403, "not a package mirror")
        return ok

    def do_GET(self) -> None:
        self._forward()

    def do_HEAD(self) -> None:
        self._forward()

    def _forward(self) -> None:
        url = urlsplit(self.path)
        if url.scheme != "http":
            self.send_error(400, "absolute http:// URIs only")
            return
        if not self._allowed(url.hostname):
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        path = url.path + (f"?{url.query}" if url.query else "")
        upstream = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=60)
        try:
            upstream.request(self.command, path or "/", headers=headers)
            response = upstream.getresponse()
            body = response.read()
        except OSError as exc:
            self.send_error(502, f"upstream: {exc}")
            return
        finally:
            upstream.close()
        self.owner.forwarded += 1
        self.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_CONNECT(self) -> None:
        host, _, port = self.path.rpartition(":")
        if not self._allowed(host) or port != "443":
            return
        try:
            upstream = socket.create_connection((host, 443), timeout=30)
        except OSError as exc:
            self.send_error(502, f"upstream: {exc}")
            return
        self.owner.forwarded += 1
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        with upstream:
            _pipe(self.connection, upstream)


def _pipe(one: socket.socket, other: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    sockets = [one, other]
    while True:
        readable, _, _ = select.select(sockets, [], [], 60)
        if not readable:
            return
        for sock in readable:
            data = sock.recv(65536)
            if not data:
                return
            (other if sock is one else one).sendall(data)
