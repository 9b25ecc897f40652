"""The placeholder certificate: self-signed, made on the host, served until a real one is.

An environment with `tls:` on gets nginx's HTTPS server with the first site that names
TLS (a deploy's PREPARE, or `tls renew`'s challenge step), before any certificate is
obtained: so obtaining the real one is a new key directory and the `live` links renamed
over, with no reload (docs/tls.md). Its key is made here and never leaves the host
(0600, owned by nginx's worker user like any key). Plain HTTP does not redirect to
HTTPS while it serves (no `tls/redirect` flag), and `tls status` says it is pending.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

from shipyard.host import tls_files
from shipyard.host.tls_keys import id_of_key
from shipyard.plan.layout import Layout

VALID_DAYS = 3650  # never renewed: it is replaced by the first real certificate
COMMON_NAME = "Shipyard placeholder (no certificate obtained yet)"


def placeholder_pem(names: list[str]) -> tuple[str, str]:
    """A new ECDSA P-256 key and a self-signed certificate for `names`: (cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME)])
    dns = [x509.DNSName(n) for n in names if n != "_"] or [x509.DNSName("localhost")]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(dns), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def ensure_placeholder(
    layout: Layout, names: list[str], prepare_key: Callable[[Path], None]
) -> bool:
    """When nothing is served yet, make and link the placeholder; True if it was made."""
    if tls_files.served(layout) is not None:
        return False
    cert_pem, key_pem = placeholder_pem(names)
    meta: dict[str, object] = {"source": tls_files.PLACEHOLDER}
    tls_files.write_certificate(layout, id_of_key(key_pem), cert_pem, key_pem, meta, prepare_key)
    return True
