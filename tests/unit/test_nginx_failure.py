"""Reading why nginx failed, and who holds an address, from nginx's and /proc's own text."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.host.listeners import (
    AddressUse,
    Holder,
    Listener,
    address_use,
    conflicts,
    parse_proc_net_tcp,
    split_listen,
)
from shipyard.host.nginx_failure import NginxFailure, explain, reason

BIND = "bind() to 127.0.0.1:18480 failed (98: Address already in use)"
ERROR_LOG = [
    f"2026/12/01 20:43:07 [emerg] 14803#14803: {BIND}",
    f"2026/12/01 20:43:07 [emerg] 14803#14803: {BIND}",
    "2026/12/01 20:43:07 [emerg] 14803#14803: still could not bind()",
]

REASONS = {
    "bind in use, repeated, from the error log": (
        ERROR_LOG,
        NginxFailure((BIND,), "127.0.0.1:18480", 98),
    ),
    "bind in use, from stderr": (
        [f"nginx: [emerg] {BIND}", "nginx: [emerg] still could not bind()"],
        NginxFailure((BIND,), "127.0.0.1:18480", 98),
    ),
    "an address this host does not have": (
        [
            "nginx: [emerg] bind() to 10.9.9.9:80 failed (99: Cannot assign requested address)",
        ],
        NginxFailure(
            ("bind() to 10.9.9.9:80 failed (99: Cannot assign requested address)",),
            "10.9.9.9:80",
            99,
        ),
    ),
    "ipv6 wildcard, permission": (
        ["nginx: [emerg] bind() to [::]:80 failed (13: Permission denied)"],
        NginxFailure(("bind() to [::]:80 failed (13: Permission denied)",), "[::]:80", 13),
    ),
    "not a bind problem": (
        [
            "2026/12/01 10:00:00 [notice] 1#1: using the epoll event method",
            '2026/12/01 10:00:00 [emerg] 1#1: open() "/srv/x/logs/a.log" failed (13: Permission '
            "denied)",
        ],
        NginxFailure(('open() "/srv/x/logs/a.log" failed (13: Permission denied)',)),
    ),
    "nothing said": (["", "2026/12/01 10:00:00 [warn] 1#1: low on files"], NginxFailure(())),
}


@pytest.mark.parametrize("case", sorted(REASONS))
def test_the_reason_is_read_from_nginx_lines(case: str) -> None:
    lines, expected = REASONS[case]
    assert reason(lines) == expected


HOLDER = Holder(4242, "python3 -m http.server 18480", "www-data")
SOCKET = Listener("127.0.0.1", 18480, 99)

EXPLAINED = {
    "held, holder seen": (
        AddressUse((SOCKET,), (HOLDER,), 0),
        True,
        [BIND, "held by pid 4242 (python3 -m http.server 18480, user www-data)"],
        ["nginx.listen", "ss -ltnp 'sport = :18480'"],
    ),
    "held by another user's process, not root": (
        AddressUse((SOCKET,), (), 1),
        False,
        ["held by another user's process (run as root to see it)", "on 127.0.0.1:18480"],
        ["nginx.listen"],
    ),
    "gone by the time we looked": (
        AddressUse((), (), 0),
        True,
        ["127.0.0.1:18480 was taken by another process"],
        ["nginx.listen"],
    ),
}


@pytest.mark.parametrize("case", sorted(EXPLAINED))
def test_an_address_in_use_is_explained_with_its_holder(case: str) -> None:
    use, is_root, in_message, in_hint = EXPLAINED[case]
    message, hint = explain(reason(ERROR_LOG), use, "see logs", is_root)
    assert message.startswith("nginx did not start: " + BIND)
    assert all(text in message for text in in_message), message
    assert all(text in hint for text in in_hint), hint


def test_other_bind_errors_say_what_to_change() -> None:
    foreign = reason(["nginx: [emerg] bind() to 10.9.9.9:80 failed (99: Cannot assign x)"])
    message, hint = explain(foreign, None, "see logs", True)
    assert "10.9.9.9 is not an address of this host" in message and "ip -brief" in hint
    low = reason(["nginx: [emerg] bind() to 0.0.0.0:80 failed (13: Permission denied)"])
    message, hint = explain(low, None, "see logs", False)
    assert "CAP_NET_BIND_SERVICE" in message and "system mode" in hint


def test_a_silent_or_unrelated_failure_points_at_the_logs() -> None:
    assert explain(NginxFailure(()), None, "see logs", True) == (
        "nginx exited while starting and logged no reason",
        "see logs",
    )
    message, hint = explain(reason(REASONS["not a bind problem"][0]), None, "see logs", True)
    assert "open() " in message and hint == "see logs"


PROC_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:4850 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 11111 1
   1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000    33        0 22222 1
   2: 0100007F:4850 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 33333 1
"""
PROC_TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 44444 1
   1: 0000000000000000FFFF00000100007F:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 55555 1
"""


def test_listening_sockets_are_read_from_proc_net_tcp() -> None:
    assert parse_proc_net_tcp(PROC_TCP, ipv6=False) == [
        Listener("127.0.0.1", 18512, 11111),
        Listener("0.0.0.0", 80, 22222),
    ]  # the established connection (st 01) is not a listener
    assert parse_proc_net_tcp(PROC_TCP6, ipv6=True) == [
        Listener("::", 8080, 44444),
        Listener("127.0.0.1", 8081, 55555),  # an IPv4-mapped address
    ]


CONFLICTS = [
    (Listener("127.0.0.1", 80, 1), "127.0.0.1", 80, True),
    (Listener("127.0.0.1", 80, 1), "127.0.0.2", 80, False),
    (Listener("0.0.0.0", 80, 1), "127.0.0.2", 80, True),
    (Listener("127.0.0.1", 80, 1), "0.0.0.0", 80, True),
    (Listener("::", 80, 1), "127.0.0.1", 80, True),
    (Listener("127.0.0.1", 81, 1), "127.0.0.1", 80, False),
]


@pytest.mark.parametrize(("listener", "address", "port", "expected"), CONFLICTS)
def test_a_wildcard_on_either_side_clashes_on_the_same_port(
    listener: Listener, address: str, port: int, expected: bool
) -> None:
    assert conflicts(listener, address, port) is expected


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("[::]:80", ("::", 80)),
        ("[::1]:8443", ("::1", 8443)),
        ("8080", ("0.0.0.0", 8080)),
        ("*:80", ("0.0.0.0", 80)),
        ("localhost:80", ("127.0.0.1", 80)),
        ("example.com:80", None),
    ],
)
def test_listen_addresses_split_into_address_and_port(
    listen: str, expected: tuple[str, int] | None
) -> None:
    assert split_listen(listen) == expected


def test_the_holder_is_found_through_its_socket_inode(tmp_path: Path) -> None:
    proc = tmp_path
    (proc / "net").mkdir()
    (proc / "net" / "tcp").write_text(PROC_TCP)
    (proc / "net" / "tcp6").write_text(PROC_TCP6.splitlines()[0] + "\n")
    holder = proc / "4242"
    (holder / "fd").mkdir(parents=True)
    (holder / "fd" / "3").symlink_to("socket:[11111]")
    (holder / "fd" / "4").symlink_to("/dev/null")
    (holder / "cmdline").write_bytes(b"python3\0-m\0http.server\0")
    other = proc / "99"
    (other / "fd").mkdir(parents=True)
    (other / "fd" / "0").symlink_to("socket:[22222]")  # port 80: not the one asked about
    (other / "cmdline").write_bytes(b"nginx\0")

    use = address_use("127.0.0.1", 18512, proc)

    assert use.listeners == (Listener("127.0.0.1", 18512, 11111),)
    assert [(h.pid, h.command) for h in use.holders] == [(4242, "python3 -m http.server")]
    assert use.unseen == 0
