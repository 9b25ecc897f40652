"""TLS decisions: is a certificate due for renewal, and why (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.protocol.tls import CertificateInfo

DAY = 86400.0


@dataclass(frozen=True)
class Wanted:
    """What the configuration asks a host to serve."""

    names: list[str]
    source: str  # acme, files, self-signed
    renew_before_days: int
    serial: str | None = None  # files mode: the configured certificate's serial


def days_left(info: CertificateInfo, now: float) -> float:
    return (info.not_after - now) / DAY


def renewal_reason(info: CertificateInfo | None, wanted: Wanted, now: float) -> str | None:
    """Why this host needs a new certificate now, or None when what it has will do."""
    if info is None:
        return "no certificate installed"
    missing = [name for name in wanted.names if name not in info.names]
    if missing:
        return f"the certificate does not cover {', '.join(missing)}"
    if info.source != wanted.source:
        return f"the certificate came from {info.source}; tls.mode is {wanted.source}"
    if wanted.serial is not None:
        if info.serial != wanted.serial:
            return "the configured certificate differs from the installed one"
        return None  # files mode: the team renews the file; we only install it
    left = days_left(info, now)
    if left <= 0:
        return "the certificate has expired"
    if left <= wanted.renew_before_days:
        return f"{left:.1f} days left (renewing at {wanted.renew_before_days} or fewer)"
    return None
