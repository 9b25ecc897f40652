"""The host agent: one JSON request line in, one JSON reply line out, per operation.

`shipyard host serve` answers requests in order until its stdin closes; `shipyard host
<op>` answers one request (on stdin, or `--request JSON`) and exits. Every request is
decoded once, here, into the operation's typed request: a malformed one gets a protocol
error naming the field, and the agent goes on serving.

Wire format: a request line is `{"op": NAME, "request": {"root", "app", "env", ...the
operation's fields}}`; a reply is `{"ok": true, ...the reply's fields}` or
`{"ok": false, "error", "hint", "probes", "log_tail", "version"}` (see
`shipyard.protocol`, where each operation's request and reply are documented).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import IO, Any

from shipyard import __version__
from shipyard.host.context import Context
from shipyard.host.errors import HostOpError
from shipyard.host.operations import handler_for
from shipyard.protocol.codec import ProtocolError, decode, encode
from shipyard.protocol.common import Probe
from shipyard.protocol.op import MAX_REPLY_BYTES, MAX_REQUEST_BYTES, Failure, Scope

SCOPE_FIELDS = ("root", "app", "env")


def failure(
    message: str,
    hint: str = "",
    probes: list[Probe] | None = None,
    log_tail: list[str] | None = None,
) -> dict[str, Any]:
    reply = Failure(
        error=message, hint=hint, probes=probes or [], log_tail=log_tail or [], version=__version__
    )
    return {"ok": False, **encode(reply)}


def run(name: str, wire_request: Any) -> dict[str, Any]:
    """Decode, run and encode one operation; always a reply, never an exception."""
    handler = handler_for(name)
    if handler is None:
        return failure(
            f"unknown host operation {name!r} (this host runs Shipyard {__version__})",
            hint="run the same Shipyard version on this machine and on the host",
        )
    try:
        if not isinstance(wire_request, dict):
            raise ProtocolError("request", "expected an object")
        fields = dict(wire_request)
        scope = decode(Scope, {k: fields.pop(k, None) for k in SCOPE_FIELDS}, "request")
        request = decode(handler.op.request, fields, "request")
        reply = handler.run(Context(scope), request)
    except ProtocolError as exc:
        return failure(
            f"host operation {name}: malformed request: {exc.message} "
            f"(this host runs Shipyard {__version__})",
            hint=exc.hint,
        )
    except HostOpError as exc:
        return failure(exc.message, exc.hint, exc.probes, exc.log_tail)
    except OSError as exc:
        return failure(f"{name}: {exc}", "check permissions and free disk on this host")
    except Exception as exc:  # a bug: still answer in the protocol, with what happened
        return failure(
            f"{name}: internal error {type(exc).__name__}: {exc}",
            "this is a Shipyard bug; please report it with the lines above",
            log_tail=traceback.format_exc().splitlines()[-15:],
        )
    return {"ok": True, **encode(reply)}


def handle_line(line: bytes) -> dict[str, Any]:
    """One request line of `serve` -> its reply."""
    try:
        message = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: a deeply nested line
        return failure("malformed request line: not JSON the agent can read")
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        return failure('malformed request line: expected {"op": NAME, "request": {...}}')
    return run(message["op"], message.get("request"))


def _read_line(stream: IO[bytes]) -> bytes | None:
    """The next line, or None at EOF. A line over MAX_REQUEST_BYTES is read to its end
    and returned as b"" (answered as too long)."""
    line = stream.readline(MAX_REQUEST_BYTES + 1)
    if not line:
        return None
    if len(line) > MAX_REQUEST_BYTES and not line.endswith(b"\n"):
        while True:
            rest = stream.readline(1 << 20)
            if not rest or rest.endswith(b"\n"):
                return b""
    return line


def reply_line(reply: dict[str, Any]) -> str:
    """The reply as one line, or a failure if it would pass MAX_REPLY_BYTES (which
    the operator's transports would refuse to read)."""
    text = json.dumps(reply) + "\n"
    if len(text) > MAX_REPLY_BYTES // 4 and len(text.encode()) > MAX_REPLY_BYTES:
        mib = MAX_REPLY_BYTES // (1024 * 1024)
        text = json.dumps(
            failure(
                f"the reply is {len(text.encode()) // (1024 * 1024)} MiB, over the {mib} MiB "
                "a reply may be",
                hint="ask for less (fewer lines or records, e.g. a smaller -n)",
            )
        )
        text += "\n"
    return text


def serve() -> int:
    """Answer one request per stdin line with one reply line, until EOF.

    The protocol owns the real stdout; anything else that writes to fd 1 (a child
    process, a stray print) is sent to stderr so it can never corrupt a reply.
    """
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    while (line := _read_line(sys.stdin.buffer)) is not None:
        if line == b"":
            reply = failure(
                f"request line over {MAX_REQUEST_BYTES // (1024 * 1024)} MiB: refused unread"
            )
        else:
            reply = handle_line(line)
        protocol.write(reply_line(reply))
    return 0


def main(name: str, request_text: str | None) -> int:
    """`shipyard host <op>`: one request from stdin (or --request), one reply on stdout."""
    if name == "serve":
        return serve()
    text = request_text if request_text is not None else sys.stdin.read(MAX_REQUEST_BYTES + 1)
    try:
        request = json.loads(text)
    except (ValueError, RecursionError):
        print(json.dumps(failure("the request is not valid JSON")), flush=True)
        return 2
    reply = run(name, request)
    print(json.dumps(reply), flush=True)
    return 0 if reply["ok"] else 1
