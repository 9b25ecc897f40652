"""The booted test root's apt proxy (tests/support/http_proxy.py): which hosts it lets
through, read from apt's sources, and that it refuses every other host (a `.invalid`
name: were it let through, it would still go nowhere)."""

from __future__ import annotations

import http.client
from pathlib import Path

from support.http_proxy import MirrorProxy, mirror_hosts


def test_mirror_hosts_come_from_one_line_and_deb822_sources(tmp_path: Path) -> None:
    one_line = tmp_path / "sources.list"
    one_line.write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb [signed-by=/k.gpg] http://Deb.Debian.org/debian bookworm main\n"
        "deb-src https://src.example.org/debian bookworm main\n"
    )
    deb822 = tmp_path / "debian.sources"
    deb822.write_text(
        "Types: deb\nURIs: http://mirror.one.example/debian http://mirror.two.example/d\n"
        "Suites: bookworm\nComponents: main\n"
    )
    hosts = mirror_hosts([one_line, deb822, tmp_path / "missing.list"])
    assert hosts == {"deb.debian.org", "src.example.org", "mirror.one.example",
                     "mirror.two.example"}  # fmt: skip


def test_a_host_that_is_not_a_mirror_is_refused_and_recorded() -> None:
    proxy = MirrorProxy("127.0.0.1", frozenset({"deb.debian.org"})).start()
    try:
        client = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
        client.request("GET", "http://not-a-mirror.invalid/secret")
        assert client.getresponse().status == 403
        client.close()
        tunnel = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
        tunnel.request("CONNECT", "not-a-mirror.invalid:443")
        assert tunnel.getresponse().status == 403
        tunnel.close()
    finally:
        proxy.stop()
    assert proxy.refused == [
        "GET http://not-a-mirror.invalid/secret",
        "CONNECT not-a-mirror.invalid:443",
    ]
    assert proxy.forwarded == 0
