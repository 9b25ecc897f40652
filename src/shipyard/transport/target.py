"""Where a host is and how to reach it: plain values, parsed from config."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# matched whole (after surrounding spaces), ASCII only: no non-ASCII digits
_TARGET = re.compile(
    r"(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<host>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:]+\])(?::(?P<port>[0-9]{1,5}))?",
    re.ASCII,
)


@dataclass(frozen=True)
class SshTarget:
    """`user@host:port`; user and port may be left to ~/.ssh/config."""

    host: str
    user: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> SshTarget:
        match = _TARGET.fullmatch(text.strip())
        if not match:
            raise ValueError(
                f"{text!r} is not an SSH target; write it as user@host or user@host:port"
            )
        port = match.group("port")
        if port is not None and not 0 < int(port) < 65536:
            raise ValueError(f"port {port} in {text!r} is out of range 1-65535")
        return cls(
            host=match.group("host").strip("[]"),
            user=match.group("user"),
            port=int(port) if port else None,
        )

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        text = f"{self.user}@{host}" if self.user else host
        return f"{text}:{self.port}" if self.port else text


@dataclass(frozen=True)
class SshOptions:
    """How strictly and with which files SSH connects.

    known_hosts: file of trusted host keys; None means ~/.ssh/known_hosts.
    trust_unknown_hosts: accept (and record in known_hosts) a key never seen before.
        Off by default and refused when CI=true: trust on first use is an explicit choice.
    identity_file: private key to offer; None leaves it to the agent and ~/.ssh/config.
    config_file: OpenSSH client config to honour; None means ~/.ssh/config if present.
    connect_timeout: seconds to wait for the TCP connect and handshake.
    connect_attempts: tries of a handshake that is refused or reset (sshd's MaxStartups,
        a full listen backlog); 1 never tries again. A failed command is never retried.
    retry_backoff: seconds before the second try, doubling for each one after it.
    """

    known_hosts: Path | None = None
    trust_unknown_hosts: bool = False
    identity_file: Path | None = None
    config_file: Path | None = None
    connect_timeout: float = 10.0
    connect_attempts: int = 1
    retry_backoff: float = 0.5

    def retry_delays(self) -> list[float]:
        """The waits before each try after the first: backoff, 2 x backoff, 4 x ..."""
        return [self.retry_backoff * 2**i for i in range(max(0, self.connect_attempts - 1))]
