"""A TLS private key's id, and a certificate request made from a key a host keeps.

The id names the key's directory (`tls/key-<id>/`): the first 16 hex digits of the
sha256 of its public key (SubjectPublicKeyInfo, DER), so it is the same for the key and
for any certificate issued for it, on every host, and says nothing about the key itself.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from shipyard.host.errors import HostOpError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import (
        PrivateKeyTypes,
        PublicKeyTypes,
    )

_KEY_ID = re.compile(r"^[0-9a-f]{16}$")


def is_key_id(text: str) -> bool:
    return bool(_KEY_ID.match(text))


def _id_of(public_key: PublicKeyTypes) -> str:
    from cryptography.hazmat.primitives import serialization

    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:16]


def id_of_certificate(cert_pem: str) -> str:
    """The id of the key the (first) certificate of a PEM chain was issued for."""
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificates(cert_pem.encode())[0]
    except ValueError:
        raise HostOpError(
            "the certificate is not a PEM certificate (chain)",
            hint="give the full chain in PEM form; nothing was changed",
        ) from None
    return _id_of(cert.public_key())


def id_of_key(key_pem: str) -> str:
    return _id_of(_load_key(key_pem).public_key())


def _load_key(key_pem: str) -> PrivateKeyTypes:
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        # the reason may quote key material: say only what it is not
        raise HostOpError(
            "the private key is not an unencrypted PEM private key",
            hint="give the key in PEM form without a passphrase; nothing was changed",
        ) from None


def csr_pem(key_pem: str, names: list[str]) -> str:
    """A CSR for `names` (in subjectAltName; no common name, which is limited to 64
    characters and which ACME servers take from the names anyway), signed by the key:
    what an ACME order's finalize takes."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    key = _load_key(key_pem)
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()
