"""HTTPS on a host: ACME challenge files, certificate install, what is installed.

The certificate's private key travels only inside a `tls-install` request, on the agent's
stdin (never in a command line), and is written 0600 before it gets its name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from shipyard.protocol.common import ProxySpec
from shipyard.protocol.op import Empty, Op

TlsSource = Literal["acme", "files", "self-signed"]


@dataclass(frozen=True)
class ChallengeRequest:
    """Put HTTP-01 answers where nginx serves `/.well-known/acme-challenge/` (or remove
    them: `clear`). `answers`: token -> key authorization. With `proxy`, nginx's site is
    first brought up to date, so that it serves that path (TLS just turned on)."""

    answers: dict[str, str]
    clear: bool = False
    proxy: ProxySpec | None = None
    ports: tuple[int, int] | None = None  # the slots' ports, with `proxy` (tcp routes)


@dataclass(frozen=True)
class InstallRequest:
    """A certificate (PEM full chain) and its key, for nginx's HTTPS server.

    Written atomically (the key 0600), then nginx is tested and gracefully reloaded; if
    nginx rejects them, the previous files are put back and nothing served changes.
    """

    proxy: ProxySpec
    cert_pem: str
    key_pem: str
    source: TlsSource
    renewed_at: float  # unix time the certificate was obtained
    ports: tuple[int, int]  # the slots' ports (tcp mode's routes are part of the site)


@dataclass(frozen=True)
class CertificateInfo:
    """The certificate a host serves (read from its file, never the key)."""

    names: list[str]
    issuer: str
    not_before: float
    not_after: float
    serial: str
    source: str  # acme, files, self-signed (as recorded at install)
    renewed_at: float | None  # when it was obtained, as recorded at install
    key_mode: str  # the key file's permission bits, e.g. "0600"


@dataclass(frozen=True)
class InstallReply:
    certificate: CertificateInfo
    reloaded: bool


@dataclass(frozen=True)
class InspectReply:
    """None: no certificate installed yet (or unreadable: `problem`)."""

    certificate: CertificateInfo | None
    problem: str | None = None
    challenge_files: list[str] = field(default_factory=list)


TLS_CHALLENGE = Op("tls-challenge", ChallengeRequest, Empty)
TLS_INSTALL = Op("tls-install", InstallRequest, InstallReply)
TLS_INSPECT = Op("tls-inspect", Empty, InspectReply)
