"""The resident host agent: `shipyard host serve`'s operations on a unix socket.

The environment's supervisord runs it (program `agent`), so a command reaches the
agent without starting Python on the host: locally by connecting to `run/agent.sock`,
over SSH through the command's connection (direct-streamlocal, like `ssh -L` to a
socket). The socket is 0600: only the deploy user, who runs supervisord and logs in
over SSH, can reach it. Each connection is served by its own thread, one request line
in, one reply line out, exactly like `serve`; the operations lock what must not run
twice (slot guard, the state database), as they do between two agent processes.

Shipyard upgraded on the host: the agent notices that its own code changed on disk
(`code_fingerprint`) at the next connection, refuses it and exits; supervisord starts
it again on the new code. A command whose first request fails this way, or whose
`hello` shows another version, starts its own agent instead (`execute/hostclient.py`).
"""

from __future__ import annotations

import hashlib
import json
import os
import socketserver
import sys
import threading
from pathlib import Path

import shipyard
from shipyard.host.agent import failure, handle_line
from shipyard.plan.layout import Layout
from shipyard.protocol.op import MAX_REQUEST_BYTES


def code_fingerprint() -> str:
    """The digest of every module file's name, size and mtime in this installation."""
    digest = hashlib.sha256()
    package = Path(shipyard.__file__).parent
    for path in sorted(package.rglob("*.py")):
        try:
            stat = path.stat()
        except OSError:
            continue
        digest.update(f"{path.relative_to(package)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


STARTED_ON = code_fingerprint()


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        if code_fingerprint() != STARTED_ON:
            reply = failure("the resident agent's code changed on disk: restarting")
            self.wfile.write(json.dumps(reply).encode() + b"\n")
            self.wfile.flush()
            # let supervisord start it again on the new code
            threading.Thread(target=self.server.shutdown, daemon=True).start()
            return
        while True:
            line = self.rfile.readline(MAX_REQUEST_BYTES + 1)
            if not line:
                return
            if len(line) > MAX_REQUEST_BYTES and not line.endswith(b"\n"):
                reply = failure("request line too long: refused")
                self.wfile.write(json.dumps(reply).encode() + b"\n")
                return  # the rest of the line cannot be told from the next request
            self.wfile.write(json.dumps(handle_line(line)).encode() + b"\n")
            self.wfile.flush()


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


def serve(path: Path) -> None:
    path.unlink(missing_ok=True)  # a socket left by an agent that died
    old = os.umask(0o177)  # the socket is created 0600, never briefly open to others
    try:
        server = _Server(str(path), _Handler)
    finally:
        os.umask(old)
    print(f"resident agent on {path} (pid {os.getpid()})", flush=True)
    threading.Thread(target=preload, daemon=True).start()
    server.serve_forever()


def preload() -> None:
    """Import every operation's module (and the HTTP client of the probes) once, at
    start, so no command pays for it: a resident agent has the time."""
    from shipyard.host.health import probe_once  # noqa: F401
    from shipyard.host.operations import all_handlers

    all_handlers()


def main(argv: list[str]) -> int:
    serve(Layout.of_base(Path(argv[0])).agent_socket)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
