"""The environment's certificate on a host: its files, what nginx is given, what it is.

`tls/fullchain.pem` and `tls/privkey.pem` (0600) under the environment's tree, and
`tls/installed.json` (where it came from, when it was obtained). The key is read only to
check that it fits the certificate; nothing here prints or logs it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from shipyard.core.files import atomic_write, read_text_or_none
from shipyard.host.errors import HostOpError
from shipyard.plan.layout import Layout
from shipyard.plan.tls_conf import HttpsServer, is_token
from shipyard.protocol.common import ProxySpec
from shipyard.protocol.tls import CertificateInfo

KEY_MODE = 0o600


def https_parts(layout: Layout, spec: ProxySpec) -> dict[str, Any]:
    """ServerBlock's HTTPS fields: the ACME path always (when TLS is configured), the
    HTTPS server once a certificate and its key are installed."""
    if spec.tls is None:
        return {}
    https = None
    if layout.tls_cert.exists() and layout.tls_key.exists():
        zone = f"shipyard_{layout.app}_{layout.env}_tls".replace("-", "_")
        https = HttpsServer(
            listen=spec.tls.listen,
            cert=layout.tls_cert,
            key=layout.tls_key,
            hsts=spec.tls.hsts,
            zone=zone,
        )
    return {
        "https": https,
        "challenges": layout.acme_challenges,
        "plain_paths": tuple(spec.tls.plain_paths),
    }


def ensure_dirs(layout: Layout) -> None:
    # searchable by nginx's workers (the challenge files); the key itself is 0600
    for path in (layout.tls_dir, layout.acme_challenges):
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o755)


def put_challenges(layout: Layout, answers: dict[str, str]) -> None:
    ensure_dirs(layout)
    for token, authorization in answers.items():
        if not is_token(token) or not is_token(authorization.replace(".", "")):
            raise HostOpError(
                "an ACME challenge token or answer has characters outside base64url",
                hint="the ACME server sent something unexpected; nothing was written",
            )
        atomic_write(layout.acme_challenges / token, authorization, mode=0o644)


def clear_challenges(layout: Layout, tokens: list[str]) -> None:
    if not layout.acme_challenges.is_dir():
        return
    names = tokens or [p.name for p in layout.acme_challenges.iterdir()]
    for name in names:
        if is_token(name):
            (layout.acme_challenges / name).unlink(missing_ok=True)


def check_pair(cert_pem: str, key_pem: str) -> None:
    """The certificate parses and the key is its key; else refuse before anything changes."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        certs = x509.load_pem_x509_certificates(cert_pem.encode())
    except ValueError:
        raise HostOpError(
            "the certificate is not a PEM certificate (chain)",
            hint="give the full chain in PEM form; nothing was changed",
        ) from None
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        # the reason may quote key material: say only what it is not
        raise HostOpError(
            "the private key is not an unencrypted PEM private key",
            hint="give the key in PEM form without a passphrase; nothing was changed",
        ) from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if key.public_key().public_bytes(encoding, public) != certs[0].public_key().public_bytes(
        encoding, public
    ):
        raise HostOpError(
            "the private key does not belong to the certificate",
            hint="give the key the certificate was issued for; nothing was changed",
        )


def write_pair(layout: Layout, cert_pem: str, key_pem: str, meta: dict[str, object]) -> None:
    ensure_dirs(layout)
    atomic_write(layout.tls_key, key_pem, mode=KEY_MODE)
    atomic_write(layout.tls_cert, cert_pem, mode=0o644)
    atomic_write(layout.tls_meta, json.dumps(meta, sort_keys=True) + "\n", mode=0o644)


def current_files(layout: Layout) -> tuple[str | None, str | None, str | None]:
    return (
        read_text_or_none(layout.tls_cert),
        read_text_or_none(layout.tls_key),
        read_text_or_none(layout.tls_meta),
    )


def restore_files(layout: Layout, saved: tuple[str | None, str | None, str | None]) -> None:
    for path, text, mode in zip(
        (layout.tls_cert, layout.tls_key, layout.tls_meta),
        saved,
        (0o644, KEY_MODE, 0o644),
        strict=True,
    ):
        if text is None:
            path.unlink(missing_ok=True)
        else:
            atomic_write(path, text, mode=mode)


def certificate_info(layout: Layout) -> CertificateInfo | None:
    """What the installed certificate is (None: none installed)."""
    from cryptography import x509

    text = read_text_or_none(layout.tls_cert)
    if text is None:
        return None
    cert = x509.load_pem_x509_certificates(text.encode())[0]
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        dns = [str(n) for n in names.value.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        dns = []
    meta: dict[str, Any] = json.loads(read_text_or_none(layout.tls_meta) or "{}")
    try:
        key_mode = f"{os.stat(layout.tls_key).st_mode & 0o777:04o}"
    except FileNotFoundError:
        key_mode = "missing"
    return CertificateInfo(
        names=dns,
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc.timestamp(),
        not_after=cert.not_valid_after_utc.timestamp(),
        serial=f"{cert.serial_number:x}",
        source=str(meta.get("source", "unknown")),
        renewed_at=float(meta["renewed_at"]) if "renewed_at" in meta else None,
        key_mode=key_mode,
    )


def challenge_files(layout: Layout) -> list[str]:
    directory: Path = layout.acme_challenges
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []
