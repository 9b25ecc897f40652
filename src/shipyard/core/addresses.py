"""Listen addresses: `host:port`, and where to reach one that listens on every address."""

from __future__ import annotations

# a server listening on a wildcard address is reached through loopback on the same host
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "*": "127.0.0.1", "[::]": "[::1]", "": "127.0.0.1"}  # noqa: S104


def split_listen(listen: str) -> tuple[str, str]:
    """`127.0.0.1:8080` -> ("127.0.0.1", "8080"); `[::]:80` -> ("[::]", "80")."""
    host, _, port = listen.rpartition(":")
    return host, port


def is_wildcard(host: str) -> bool:
    return host in _WILDCARDS


def reachable(listen: str) -> str:
    """The `host:port` a client on the same machine uses to reach `listen`."""
    host, port = split_listen(listen)
    return f"{_WILDCARDS.get(host, host)}:{port}"
