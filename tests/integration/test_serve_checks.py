"""The check runners against real local servers that fail in each way."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.checkservers import http_server, refused_port, silent_port, tls_server

from shipyard.config.model import Environment
from shipyard.config.observe import HeartbeatProbe, HttpProbe, TcpProbe, TlsProbe
from shipyard.plan.check_targets import Target
from shipyard.serve.checks.http import run_http
from shipyard.serve.checks.outcome import Outcome
from shipyard.serve.checks.run import run_check
from shipyard.serve.checks.tcp import run_tcp
from shipyard.serve.checks.tls import run_tls

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with http_server() as url:
        yield url


def http(probe: HttpProbe, url: str) -> Outcome:
    async def go() -> Outcome:
        async with httpx.AsyncClient() as client:
            return await run_http(client, probe, Target("-", url))

    return asyncio.run(go())


def test_an_http_check_passes_on_the_expected_status_and_body(site: str) -> None:
    outcome = http(HttpProbe(name="home", url=site, contains="Welcome"), site + "/")
    assert (outcome.ok, outcome.status, outcome.error) == (True, 200, "")
    assert outcome.latency_ms is not None


def test_a_wrong_status_fails_naming_it(site: str) -> None:
    outcome = http(HttpProbe(name="a", url=site), site + "/status")
    assert (outcome.ok, outcome.status, outcome.error) == (False, 503, "HTTP 503, expected 200")


def test_a_body_without_the_text_fails(site: str) -> None:
    outcome = http(HttpProbe(name="a", url=site, contains="Goodbye"), site + "/")
    assert not outcome.ok and outcome.error == "body does not contain 'Goodbye'"


def test_a_json_path_must_hold_the_value(site: str) -> None:
    good = http(HttpProbe(name="a", url=site, json_path="db.ok", equals=True), site + "/json")
    bad = http(HttpProbe(name="a", url=site, json_path="items.0.id", equals=8), site + "/json")
    missing = http(HttpProbe(name="a", url=site, json_path="db.gone"), site + "/json")
    assert good.ok
    assert (bad.ok, bad.error) == (False, "items.0.id is 7, expected 8")
    assert (missing.ok, missing.error) == (False, "no JSON field 'db.gone' in the response")


def test_a_slow_answer_fails_over_max_ms(site: str) -> None:
    outcome = http(HttpProbe(name="a", url=site, max_ms=100), site + "/slow")
    assert not outcome.ok and "over max_ms 100" in outcome.error


def test_a_refused_connection_fails_as_refused() -> None:
    url = f"http://127.0.0.1:{refused_port()}/"
    assert http(HttpProbe(name="a", url=url), url).error == "connection refused"
    tcp = asyncio.run(run_tcp(f"127.0.0.1:{refused_port()}", 2))
    assert (tcp.ok, tcp.error) == (False, "connection refused")


def test_a_server_that_never_answers_fails_at_the_timeout() -> None:
    with silent_port() as port:
        url = f"http://127.0.0.1:{port}/"
        outcome = http(HttpProbe(name="a", url=url, timeout=0.5), url)
    assert (outcome.ok, outcome.error) == (False, "no answer within 0.5 s")


def test_a_tcp_check_passes_when_the_port_accepts() -> None:
    with silent_port() as port:
        outcome = asyncio.run(run_tcp(f"127.0.0.1:{port}", 2))
    assert outcome.ok


def test_a_certificate_expiring_sooner_than_days_left_fails_with_its_days(tmp_path: Path) -> None:
    with tls_server(tmp_path / "soon", days_valid=5.5) as (port, ca):
        probe = TlsProbe(
            name="cert",
            kind="tls",
            address=f"127.0.0.1:{port}",
            server_name="localhost",
            ca_file=str(ca),
            days_left=14,
        )
        soon = asyncio.run(run_tls(probe))
        fine = asyncio.run(run_tls(probe.model_copy(update={"days_left": 3})))
    assert (soon.ok, soon.status) == (False, 5)
    assert "certificate expires in 5 days" in soon.error
    assert (fine.ok, fine.status) == (True, 5)


def test_an_expired_or_untrusted_certificate_fails_to_verify(tmp_path: Path) -> None:
    with tls_server(tmp_path / "old", days_valid=-1) as (port, ca):
        probe = TlsProbe(
            name="cert",
            kind="tls",
            address=f"127.0.0.1:{port}",
            server_name="localhost",
            ca_file=str(ca),
        )
        expired = asyncio.run(run_tls(probe))
        untrusted = asyncio.run(run_tls(probe.model_copy(update={"ca_file": None})))
    assert not expired.ok and "certificate has expired" in expired.error
    assert not untrusted.ok and "does not verify" in untrusted.error


def environment(site: str, **extra: object) -> Environment:
    port = site.rsplit(":", 1)[1]
    return Environment.model_validate(
        {
            "name": "prod",
            "app": "shop",
            "start": "x",
            "hosts": ["local"],
            "nginx": {"listen": f"127.0.0.1:{port}"},
            **extra,
        }
    )


def test_a_path_check_goes_to_each_hosts_nginx_and_a_heartbeat_reads_the_last_push(
    site: str,
) -> None:
    env = environment(site, secrets={"T": {"from_env": "T"}})
    path = HttpProbe(name="home", path="/shop", contains="Welcome to /shop")
    beat = HeartbeatProbe(name="nightly", kind="heartbeat", every_minutes=1, token_secret="T")

    async def go() -> tuple[list[object], list[object], list[object]]:
        async with httpx.AsyncClient() as client:
            a = await run_check(client, env, path, lambda e, n: None)
            b = await run_check(client, env, beat, lambda e, n: None, maintenance=True)
            import time

            c = await run_check(client, env, beat, lambda e, n: time.time() - 5)
            return a, b, c

    (home,), (never,), (recent,) = asyncio.run(go())
    assert (home.host, home.ok, home.status) == ("local", True, 200)
    assert (never.ok, never.maintenance) == (False, True)
    assert never.error == "never called (expected every 1 min)"
    assert recent.ok
    tcp = TcpProbe(name="db", kind="tcp", address=f"127.0.0.1:{refused_port()}")
    (down,) = asyncio.run(_run(env, tcp))
    assert (down.host, down.ok, down.error) == ("-", False, "connection refused")


async def _run(env: Environment, check: TcpProbe) -> list[object]:
    async with httpx.AsyncClient() as client:
        return list(await run_check(client, env, check, lambda e, n: None))


class _KeepAliveServer:
    """HTTP/1.1 on raw asyncio: answers keep-alive, counts connections; `close_after_one`
    drops each connection after its first answer without saying so (a stale idle one)."""

    def __init__(self, close_after_one: bool) -> None:
        self.close_after_one = close_after_one
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
                await writer.drain()
                if self.close_after_one:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


@pytest.mark.parametrize("stale", [False, True])
def test_plain_http_checks_reuse_connections_and_retry_one_the_server_closed(stale: bool) -> None:
    from shipyard.serve.checks.http_client import Pool

    server = _KeepAliveServer(close_after_one=stale)

    async def go() -> list[Outcome]:
        listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        port = listening.sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}/"
        pool = Pool()
        probe = HttpProbe(name="a", url=url)
        outcomes = []
        async with httpx.AsyncClient() as client:
            for _ in range(3):
                outcomes.append(await run_http(client, probe, Target("-", url), pool))
                await asyncio.sleep(0.05)
        pool.close()
        listening.close()
        return outcomes

    outcomes = asyncio.run(go())
    assert [o.ok for o in outcomes] == [True, True, True]
    assert server.connections == (3 if stale else 1)
