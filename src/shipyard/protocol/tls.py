"""HTTPS on a host: ACME challenge files, certificate install, what is installed.

A new private key travels only inside a `tls-install` request, on the agent's stdin (never
in a command line), and is written 0600 before it gets its name. A renewal keeps the key:
`tls-csr` makes the certificate request on the host from the key it holds, so the key
never leaves the host again, and the install replaces only the certificate file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from shipyard.protocol.op import Empty, Op
from shipyard.protocol.specs import ProxySpec

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
class CsrRequest:
    """A certificate signing request for `names`, made on the host from the key it holds
    (the installed certificate's key, `key_id`), so that a renewal keeps the key."""

    names: list[str]
    key_id: str


@dataclass(frozen=True)
class CsrReply:
    csr_pem: str  # PEM; the key itself never leaves the host


@dataclass(frozen=True)
class InstallRequest:
    """A certificate (PEM full chain) and its key, for nginx's HTTPS server.

    nginx loads the certificate and key at each TLS handshake through `tls/live-a` or
    `tls/live-b`, symlinks to `tls/key-<key id>/`. With `key_pem` None the host's own
    key for the certificate is kept: the certificate file is replaced atomically. A new
    key gets a new `key-<id>/` directory (the key 0600, owned by nginx's worker user),
    then each link is renamed to point at it while nginx does not read it
    (plan/tls_links.py). Neither reloads nginx. If nginx does not present the new
    certificate, the previous link and files are put back and nothing served changes.
    """

    proxy: ProxySpec
    cert_pem: str
    key_pem: str | None  # None: keep the key this host holds for the certificate
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
    key_id: str | None = None  # the key's id (its public key's sha256, 16 hex digits)


@dataclass(frozen=True)
class InstallReply:
    certificate: CertificateInfo
    reloaded: bool  # False: only the certificate file changed (a kept key), no reload


@dataclass(frozen=True)
class InspectReply:
    """None: no certificate installed yet (or unreadable: `problem`); `placeholder`:
    none obtained yet, and nginx serves the host's self-signed placeholder."""

    certificate: CertificateInfo | None
    problem: str | None = None
    challenge_files: list[str] = field(default_factory=list)
    placeholder: bool = False


TLS_CHALLENGE = Op("tls-challenge", ChallengeRequest, Empty)
TLS_INSTALL = Op("tls-install", InstallRequest, InstallReply)
TLS_INSPECT = Op("tls-inspect", Empty, InspectReply)
TLS_CSR = Op("tls-csr", CsrRequest, CsrReply)
