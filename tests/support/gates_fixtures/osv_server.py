"""A loopback stand-in for the OSV query API (POST /v1/query), for pip-audit in the tests.

The public vulnerability services are not reachable from every test machine, so the tests
point real pip-audit at this server (`service: osv`, `osv_url: ...`). It answers from
advisories.json the way api.osv.dev does: `{"vulns": [...]}` for an affected version, `{}`
otherwise. `mode = "error"` makes it answer HTTP 500, as a broken service would.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

ADVISORIES = Path(__file__).with_name("advisories.json")


def affected(record: dict[str, Any], name: str, version: str) -> bool:
    try:
        wanted = Version(version)
    except InvalidVersion:
        return False
    for entry in record.get("affected", []):
        package = entry["package"]
        if package["ecosystem"] != "PyPI" or package["name"].lower() != name.lower():
            continue
        for window in entry.get("ranges", []):
            if window["type"] != "ECOSYSTEM":
                continue
            introduced, fixed = Version("0"), None
            for event in window["events"]:
                if "introduced" in event:
                    introduced = Version(event["introduced"])
                if "fixed" in event:
                    fixed = Version(event["fixed"])
            if wanted >= introduced and (fixed is None or wanted < fixed):
                return True
    return False


class OsvServer(ThreadingHTTPServer):
    mode = "ok"
    queries: list[dict[str, Any]]

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/v1/query"


class Handler(BaseHTTPRequestHandler):
    server: OsvServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        query = json.loads(self.rfile.read(length) or b"{}")
        self.server.queries.append(query)
        if self.server.mode == "error" or self.path != "/v1/query":
            self._send(500, {"code": 13, "message": "internal error"})
            return
        package = query.get("package", {})
        records = json.loads(ADVISORIES.read_text())["vulns"]
        vulns = [
            r for r in records if affected(r, package.get("name", ""), query.get("version", ""))
        ]
        self._send(200, {"vulns": vulns} if vulns else {})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def osv_server() -> Iterator[OsvServer]:
    server = OsvServer(("127.0.0.1", 0), Handler)
    server.queries = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
