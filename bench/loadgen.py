"""An asyncio HTTP/1.1 load generator on raw sockets that accounts for every request.

Two modes:

- keepalive: a fixed set of persistent connections, each sending paced requests one
  after another (like a browser or an HTTP client pool). After an error or a
  `Connection: close` the connection is reopened for the next request.
- keepalive-checked: the same, but before re-using an idle connection the client looks
  whether the server has closed it meanwhile (EOF already received) and if so opens a
  new one, as httpcore/httpx and browsers do. That reconnect is not a failure.
- fresh: open loop, one new TCP connection per request (`Connection: close`).

Every request ends as exactly one sample: an HTTP status, or an error class
(connect, reset, eof, timeout, bad-response). Nothing is retried: a failure is a
failure. Samples on a re-used keep-alive connection that fail before the first
response byte are flagged `stale`, because RFC 9110 section 9.2.2 lets a client retry
an idempotent request in that case and common clients (httpx, browsers) do so.

Loopback only: the target must be in 127.0.0.0/8. Bounded: it stops after
`max_seconds`, on SIGTERM/SIGINT, or when its stdin closes (subprocess use).

Run standalone:
    python bench/loadgen.py --url http://127.0.0.1:18190/api/sample --mode fresh \\
        --rate 200 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import signal
import ssl
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

MODES = ("keepalive", "keepalive-checked", "fresh")
REQUEST_TIMEOUT = 10.0
MAX_INFLIGHT_FRESH = 512


@dataclass
class Sample:
    t: float  # time.monotonic() when the request was sent (or the connect began)
    latency: float  # seconds until the full response (or the error)
    status: int  # HTTP status; 0 for an error
    error: str  # "" or the error class
    release: str  # X-Release of the response ("" if none)
    stale: bool = False  # error on a re-used keep-alive connection before any response byte


class ResponseError(Exception):
    def __init__(self, kind: str, before_first_byte: bool) -> None:
        super().__init__(kind)
        self.kind = kind
        self.before_first_byte = before_first_byte


def check_loopback(host: str) -> None:
    if not ipaddress.ip_address(host).is_loopback or ":" in host:
        raise SystemExit(f"refusing to send load to {host}: only 127.0.0.0/8 is allowed")


def build_request(host: str, port: int, path: str, keepalive: bool) -> bytes:
    connection = "keep-alive" if keepalive else "close"
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: shipyard-bench\r\n"
        f"Accept: */*\r\nConnection: {connection}\r\n\r\n"
    ).encode()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, str, bool]:
    """Read one response; return (status, X-Release, server wants to close)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise ResponseError("eof", not exc.partial) from None
    except asyncio.LimitOverrunError:
        raise ResponseError("bad-response", False) from None
    except (ConnectionResetError, BrokenPipeError):
        raise ResponseError("reset", True) from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ResponseError("bad-response", False)
    status = int(parts[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    close = headers.get("connection", "").lower() == "close" or parts[0] == "HTTP/1.0"
    try:
        if "content-length" in headers:
            await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await reader.readexactly(size + 2)
                if size == 0:
                    break
        else:
            await reader.read()
            close = True
    except asyncio.IncompleteReadError:
        raise ResponseError("eof", False) from None
    except (ConnectionResetError, BrokenPipeError):
        raise ResponseError("reset", False) from None
    return status, headers.get("x-release", ""), close


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, ResponseError):
        return exc.kind
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connect-refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return "reset"
    return f"error:{type(exc).__name__}"


class LoadGen:
    def __init__(
        self, host: str, port: int, path: str, mode: str, rate: float, connections: int
    ) -> None:
        check_loopback(host)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.host, self.port, self.path, self.mode = host, port, path, mode
        self.rate, self.connections = rate, connections
        self.samples: list[Sample] = []
        self.reconnects_idle_closed = 0
        self.stopping = asyncio.Event()
        self.tls: ssl.SSLContext | None = None  # https:// (bench/tls.py): TLS to nginx

    async def run(self, max_seconds: float) -> list[Sample]:
        self.started = time.monotonic()
        self.deadline = self.started + max_seconds
        if self.mode != "fresh":
            workers = [self._keepalive_worker(i) for i in range(self.connections)]
            await asyncio.gather(*workers)
        else:
            await self._fresh_dispatcher()
        return self.samples

    def _running(self) -> bool:
        return not self.stopping.is_set() and time.monotonic() < self.deadline

    async def _sleep_until(self, when: float) -> None:
        delay = when - time.monotonic()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)

    async def _keepalive_worker(self, index: int) -> None:
        request = build_request(self.host, self.port, self.path, keepalive=True)
        interval = self.connections / self.rate
        check_closed = self.mode == "keepalive-checked"
        next_send = self.started + interval * index / self.connections
        writer: asyncio.StreamWriter | None = None
        reader: asyncio.StreamReader | None = None
        used = False
        while True:
            await self._sleep_until(next_send)
            if not self._running():
                break
            next_send = max(next_send + interval, time.monotonic() - interval)
            if check_closed and reader is not None and writer is not None and reader.at_eof():
                self.reconnects_idle_closed += 1
                writer.close()
                writer = reader = None
            t0 = time.monotonic()
            reused = writer is not None and used
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    if writer is None:
                        reader, writer = await asyncio.open_connection(
                            self.host, self.port, ssl=self.tls
                        )
                        used = False
                    assert reader is not None
                    writer.write(request)
                    await writer.drain()
                    status, release, close = await read_response(reader)
                self.samples.append(Sample(t0, time.monotonic() - t0, status, "", release))
                used = True
                if close:
                    writer.close()
                    writer = reader = None
            except Exception as exc:
                stale = reused and isinstance(exc, ResponseError) and exc.before_first_byte
                if isinstance(exc, ConnectionResetError | BrokenPipeError) and reused:
                    stale = True  # the write itself hit a connection the server had closed
                self.samples.append(
                    Sample(t0, time.monotonic() - t0, 0, _error_kind(exc), "", stale)
                )
                if writer is not None:
                    writer.close()
                writer = reader = None
        if writer is not None:
            writer.close()

    async def _fresh_dispatcher(self) -> None:
        request = build_request(self.host, self.port, self.path, keepalive=False)
        interval = 1.0 / self.rate
        inflight: set[asyncio.Task[None]] = set()
        next_send = self.started
        while True:
            await self._sleep_until(next_send)
            if not self._running():
                break
            next_send += interval
            if len(inflight) >= MAX_INFLIGHT_FRESH:  # never silently skip: count it
                self.samples.append(Sample(time.monotonic(), 0.0, 0, "client-saturated", ""))
                continue
            task = asyncio.create_task(self._one_fresh(request))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
        if inflight:
            await asyncio.gather(*inflight, return_exceptions=True)

    async def _one_fresh(self, request: bytes) -> None:
        t0 = time.monotonic()
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                reader, writer = await asyncio.open_connection(self.host, self.port, ssl=self.tls)
                writer.write(request)
                await writer.drain()
                status, release, _ = await read_response(reader)
            self.samples.append(Sample(t0, time.monotonic() - t0, status, "", release))
        except Exception as exc:
            self.samples.append(Sample(t0, time.monotonic() - t0, 0, _error_kind(exc), ""))
        finally:
            if writer is not None:
                writer.close()


def summarize(samples: list[Sample]) -> dict[str, object]:
    """Counts and latency percentiles of a list of samples."""
    ok = [s for s in samples if 200 <= s.status < 300]
    non2xx = [s for s in samples if s.status and not 200 <= s.status < 300]
    errors = [s for s in samples if not s.status]
    latencies = sorted(s.latency for s in ok)  # of successful responses only
    kinds: dict[str, int] = {}
    for s in errors:
        kinds[s.error] = kinds.get(s.error, 0) + 1
    statuses: dict[str, int] = {}
    for s in non2xx:
        statuses[str(s.status)] = statuses.get(str(s.status), 0) + 1
    return {
        "requests": len(samples),
        "ok": len(ok),
        "non2xx": len(non2xx),
        "non2xx_by_status": statuses,
        "conn_errors": len(errors),
        "errors_by_kind": kinds,
        "stale_keepalive": sum(1 for s in errors if s.stale),
        "p50_ms": percentile(latencies, 50) * 1000 if latencies else None,
        "p99_ms": percentile(latencies, 99) * 1000 if latencies else None,
        "max_ms": latencies[-1] * 1000 if latencies else None,
    }


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return sorted_values[int(rank) - 1]


async def _main_async(args: argparse.Namespace) -> LoadGen:
    url = urlsplit(args.url)
    if url.scheme not in ("http", "https") or not url.hostname or not url.port:
        raise SystemExit("give --url as http(s)://127.0.0.1:PORT/path")
    gen = LoadGen(url.hostname, url.port, url.path or "/", args.mode, args.rate, args.connections)
    if url.scheme == "https":
        gen.tls = ssl.create_default_context(cafile=args.cafile)
        if args.cafile is None:  # a self-signed certificate: encrypted, not authenticated
            gen.tls.verify_mode = ssl.CERT_NONE
        gen.tls.check_hostname = False  # connecting to 127.0.0.1, not the certificate's name
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, gen.stopping.set)
    if args.stop_on_stdin_close:

        def on_stdin() -> None:
            if not sys.stdin.buffer.read1(4096):
                loop.remove_reader(sys.stdin.fileno())
                gen.stopping.set()

        loop.add_reader(sys.stdin.fileno(), on_stdin)
    if args.ready_file:
        Path(args.ready_file).write_text(str(time.monotonic()))
    await gen.run(args.seconds)
    return gen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--mode", choices=MODES, default="keepalive")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--connections", type=int, default=8, help="keepalive mode only")
    parser.add_argument("--seconds", type=float, default=10.0, help="hard upper bound")
    parser.add_argument("--out", help="write every sample as JSON here")
    parser.add_argument("--ready-file", help="written once the generator is running")
    parser.add_argument("--stop-on-stdin-close", action="store_true")
    parser.add_argument("--cafile", help="https: trust this CA bundle (default: verify nothing)")
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= 900:
        parser.error("--seconds must be in (0, 900]")
    if not 0 < args.rate <= 5000:
        parser.error("--rate must be in (0, 5000]")
    gen = asyncio.run(_main_async(args))
    samples = gen.samples
    if args.out:
        Path(args.out).write_text(json.dumps([asdict(s) for s in samples]))
    summary = summarize(samples)
    summary["reconnects_idle_closed"] = gen.reconnects_idle_closed
    elapsed = (max(s.t for s in samples) - min(s.t for s in samples)) if samples else 0.0
    summary["achieved_rate"] = round(len(samples) / elapsed, 1) if elapsed else 0.0
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
