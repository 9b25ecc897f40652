"""A concurrent HTTP client that runs while a test deploys, and accounts for every request.

    with Load("http://127.0.0.1:18080/healthz") as load:
        result = repo.shipyard("deploy", "local")
    assert not load.failed, load.report()

It runs an asyncio loop in one background thread. For each URL it keeps `keepalive`
persistent HTTP/1.1 connections (requests sent one after another on each, like a client
pool) and one worker that opens a fresh connection per request (`Connection: close`).
Together they send about `rate` requests per second, spread evenly over the workers.

Every request ends as exactly one `Sample`: an HTTP status, or an error kind (connect,
reset, eof, timeout, bad-response) with status 0. Nothing is retried, and nothing is
dropped: a failure is a failure. The one thing a real client pool does that this one does
too: before re-using an idle keep-alive connection it looks whether the server already
closed it, and if so opens a new one (httpx, browsers and nginx's own upstream pool do
the same); that reconnect is counted in `reconnects`, not as a request. `plain=True` turns
that off: a plain keep-alive client (wrk, many HTTP libraries) sends on the connection it
has, and a connection the server closed meanwhile fails that request.

Loopback only (127.0.0.0/8). Bounded: it stops on `stop()` / leaving the `with` block,
or after `max_seconds`, whichever comes first; each request times out after `timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_RATE = 200.0
MAX_SECONDS = 600.0


@dataclass(frozen=True)
class Sample:
    at: float  # time.time() when the request was started (wall clock, to compare with logs)
    elapsed: float  # seconds until the whole response, or the error
    url: str
    fresh: bool  # True: a new connection for this request; False: a keep-alive connection
    status: int  # HTTP status; 0 when there was no complete HTTP answer
    error: str = ""  # "" or the kind of failure
    release: str = ""  # X-Release of the response
    version: str = ""  # X-App-Version of the response

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def __str__(self) -> str:
        what = f"HTTP {self.status}" if self.status else self.error
        stamp = time.strftime("%H:%M:%S", time.localtime(self.at)) + f"{self.at % 1:.3f}"[1:]
        kind = "fresh" if self.fresh else "keep-alive"
        return f"{stamp} {self.url} ({kind}): {what} after {self.elapsed * 1000:.0f} ms"


class _BadResponse(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, _BadResponse):
        return exc.kind
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connect-refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return "reset"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "eof"
    return f"error:{type(exc).__name__}"


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        raise _BadResponse("eof") from None
    except asyncio.LimitOverrunError:
        raise _BadResponse("bad-response") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise _BadResponse("bad-response")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
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
            headers["connection"] = "close"
    except asyncio.IncompleteReadError:
        raise _BadResponse("eof") from None
    return int(parts[1]), headers


class Load:
    """GET `urls` concurrently in a background thread until stopped; see the module doc."""

    def __init__(
        self,
        *urls: str,
        rate: float = 60.0,
        keepalive: int = 2,
        fresh: bool = True,
        max_seconds: float = 120.0,
        timeout: float = 5.0,
        tls: ssl.SSLContext | None = None,  # for https:// URLs (tests/integration/test_tls_*)
        plain: bool = False,
    ) -> None:
        if not urls:
            raise ValueError("give at least one URL")
        if not 0 < rate <= MAX_RATE:
            raise ValueError(f"rate must be in (0, {MAX_RATE:g}] requests per second")
        if not 0 < max_seconds <= MAX_SECONDS:
            raise ValueError(f"max_seconds must be in (0, {MAX_SECONDS:g}]")
        self.targets = []
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme != ("https" if tls else "http") or not parts.hostname or not parts.port:
                raise ValueError(f"give URLs as http://127.0.0.x:PORT/path, not {url!r}")
            if not ipaddress.ip_address(parts.hostname).is_loopback or ":" in parts.hostname:
                raise ValueError(f"refusing to send load to {parts.hostname}: loopback only")
            self.targets.append((url, parts.hostname, parts.port, parts.path or "/"))
        self.rate = rate
        self.keepalive = keepalive
        self.fresh = fresh
        self.max_seconds = max_seconds
        self.timeout = timeout
        self.tls = tls
        self.plain = plain
        self.reconnects = 0
        self.started_at: float | None = None
        self.stopped_at: float | None = None
        self._samples: list[Sample] = []
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._crashed: BaseException | None = None

    # -- control ------------------------------------------------------------------------

    def __enter__(self) -> Load:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, warmup: float = 5.0) -> None:
        """Start the load; return once the first request was answered (or `warmup` passed)."""
        if self._thread is not None:
            raise RuntimeError("a Load runs once")
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + warmup
        while time.monotonic() < deadline and not self._samples and self._crashed is None:
            time.sleep(0.01)
        if self._crashed is not None:
            raise RuntimeError("the load client crashed") from self._crashed

    def stop(self) -> None:
        """Stop sending; wait for requests in flight (at most `timeout` seconds)."""
        if self._thread is None:
            return
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended meanwhile
                loop.call_soon_threadsafe(stopping.set)
        self._thread.join(self.timeout + 5)
        if self._crashed is not None:
            raise RuntimeError("the load client crashed") from self._crashed

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- results ------------------------------------------------------------------------

    @property
    def samples(self) -> list[Sample]:
        with self._guard:
            return list(self._samples)

    @property
    def failed(self) -> list[Sample]:
        """Every request that did not get a 2xx answer (an HTTP error or no answer at all)."""
        return [s for s in self.samples if not s.ok]

    def between(self, start: float, end: float) -> list[Sample]:
        """Samples started within [start, end] (wall clock, time.time())."""
        return [s for s in self.samples if start <= s.at <= end]

    def versions(self) -> Counter[str]:
        """X-App-Version of the successful answers, with counts."""
        return Counter(s.version for s in self.samples if s.ok)

    def releases(self) -> Counter[str]:
        """X-Release of the successful answers, with counts."""
        return Counter(s.release for s in self.samples if s.ok)

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        """Block until at least `count` more requests have been answered or failed."""
        goal = len(self.samples) + count
        deadline = time.monotonic() + timeout
        while len(self.samples) < goal:
            if time.monotonic() > deadline or not self.running:
                raise TimeoutError(f"the load client did not make {count} more requests")
            time.sleep(0.02)

    def summary(self) -> dict[str, object]:
        samples = self.samples
        ok = [s for s in samples if s.ok]
        latencies = sorted(s.elapsed for s in ok)
        end = self.stopped_at or time.time()
        duration = end - self.started_at if self.started_at else 0.0
        return {
            "requests": len(samples),
            "ok": len(ok),
            "non2xx": dict(Counter(str(s.status) for s in samples if s.status and not s.ok)),
            "errors": dict(Counter(s.error for s in samples if not s.status)),
            "keepalive_requests": sum(1 for s in samples if not s.fresh),
            "fresh_requests": sum(1 for s in samples if s.fresh),
            "reconnects": self.reconnects,
            "versions": dict(self.versions()),
            "seconds": round(duration, 2),
            "rate": round(len(samples) / duration, 1) if duration else 0.0,
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1) if latencies else None,
            "max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
        }

    def report(self, limit: int = 20) -> str:
        """The summary and the first failures: for assertion messages."""
        failed = self.failed
        lines = [f"load: {self.summary()}"]
        lines += [f"  failed: {s}" for s in failed[:limit]]
        if len(failed) > limit:
            lines.append(f"  ... and {len(failed) - limit} more")
        return "\n".join(lines)

    # -- the loop -----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self._crashed = exc
        finally:
            self.stopped_at = time.time()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self.started_at = time.time()
        deadline = time.monotonic() + self.max_seconds
        workers = []
        for url, host, port, path in self.targets:
            workers += [("keepalive", url, host, port, path)] * self.keepalive
            if self.fresh:
                workers.append(("fresh", url, host, port, path))
        interval = len(workers) / self.rate
        tasks = []
        for index, (kind, url, host, port, path) in enumerate(workers):
            offset = interval * index / len(workers)
            worker = self._keepalive_worker if kind == "keepalive" else self._fresh_worker
            tasks.append(asyncio.create_task(worker(url, host, port, path, interval, offset)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), max(0.0, deadline - time.monotonic()))
        self._stopping.set()
        await asyncio.gather(*tasks)

    async def _pace(self, next_at: float) -> bool:
        """Sleep until next_at; False when it is time to stop."""
        assert self._stopping is not None
        delay = next_at - time.monotonic()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
        return not self._stopping.is_set()

    def _record(self, sample: Sample) -> None:
        with self._guard:
            self._samples.append(sample)

    @staticmethod
    def _request(host: str, port: int, path: str, keepalive: bool) -> bytes:
        connection = "keep-alive" if keepalive else "close"
        return (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: shipyard-fault-tests\r\n"
            f"Accept: */*\r\nConnection: {connection}\r\n\r\n"
        ).encode()

    async def _keepalive_worker(
        self, url: str, host: str, port: int, path: str, interval: float, offset: float
    ) -> None:
        request = self._request(host, port, path, keepalive=True)
        next_at = time.monotonic() + offset
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        try:
            while await self._pace(next_at):
                next_at = max(next_at + interval, time.monotonic() - interval)
                idle_closed = reader is not None and reader.at_eof()
                if idle_closed and not self.plain and writer is not None:
                    # the server closed this idle connection: a client pool opens a new one
                    self.reconnects += 1
                    writer.close()
                    reader = writer = None
                at, t0 = time.time(), time.monotonic()
                try:
                    async with asyncio.timeout(self.timeout):
                        if writer is None:
                            reader, writer = await asyncio.open_connection(host, port, ssl=self.tls)
                        assert reader is not None
                        writer.write(request)
                        await writer.drain()
                        status, headers = await _read_response(reader)
                except Exception as exc:
                    elapsed = time.monotonic() - t0
                    self._record(Sample(at, elapsed, url, False, 0, _error_kind(exc)))
                    if writer is not None:
                        writer.close()
                    reader = writer = None
                    continue
                self._record(self._sample(at, t0, url, False, status, headers))
                if headers.get("connection", "").lower() == "close" and writer is not None:
                    writer.close()
                    reader = writer = None
        finally:
            if writer is not None:
                writer.close()

    async def _fresh_worker(
        self, url: str, host: str, port: int, path: str, interval: float, offset: float
    ) -> None:
        request = self._request(host, port, path, keepalive=False)
        next_at = time.monotonic() + offset
        while await self._pace(next_at):
            next_at = max(next_at + interval, time.monotonic() - interval)
            at, t0 = time.time(), time.monotonic()
            writer: asyncio.StreamWriter | None = None
            try:
                async with asyncio.timeout(self.timeout):
                    reader, writer = await asyncio.open_connection(host, port, ssl=self.tls)
                    writer.write(request)
                    await writer.drain()
                    status, headers = await _read_response(reader)
            except Exception as exc:
                self._record(Sample(at, time.monotonic() - t0, url, True, 0, _error_kind(exc)))
                continue
            finally:
                if writer is not None:
                    writer.close()
            self._record(self._sample(at, t0, url, True, status, headers))

    @staticmethod
    def _sample(
        at: float, t0: float, url: str, fresh: bool, status: int, headers: dict[str, str]
    ) -> Sample:
        return Sample(
            at,
            time.monotonic() - t0,
            url,
            fresh,
            status,
            release=headers.get("x-release", ""),
            version=headers.get("x-app-version", ""),
        )
