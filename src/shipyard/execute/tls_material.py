"""A certificate and its key for the environment, by mode: a new key and its CSR (acme),
one made here (self-signed), or the team's own (files: a path or a secret). An acme
renewal that keeps the key has no key here at all: the hosts made the CSR (`tls-csr`).

A new key exists only in memory here and in the 0600 file on each host; it is never
printed, logged or put in a command line.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path

from shipyard.config.errors import ConfigError
from shipyard.config.tls import TlsFiles

SELF_SIGNED_DAYS = 90


@dataclass(frozen=True)
class Material:
    cert_pem: str
    key_pem: str | None = field(repr=False)  # never shown; None: the hosts keep theirs


def new_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def csr_pem(key_pem: str, names: list[str]) -> bytes:
    from acme import crypto_util

    return crypto_util.make_csr(key_pem.encode(), names)


def self_signed(names: list[str], now: datetime.datetime | None = None) -> Material:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key_pem = new_key_pem()
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    now = now or datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return Material(cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem)


def from_files(files: TlsFiles, secrets: dict[str, str], base_dir: Path) -> Material:
    """The team's certificate and key: each from a file (relative paths from `base_dir`,
    the directory of shipyard.yml) or from one of `secrets:`."""

    def one(path: str | None, secret: str | None, what: str) -> str:
        if secret is not None:
            return secrets[secret]
        assert path is not None
        file = Path(path).expanduser()
        if not file.is_absolute():
            file = base_dir / file
        try:
            return file.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                str(base_dir / "shipyard.yml"),
                f"tls.files.{what}: cannot read {file}: {type(exc).__name__}",
                key_path=f"tls.files.{what}",
                hint="point it at a readable PEM file (the key 0600, outside git)",
            ) from None

    return Material(
        one(files.cert, files.cert_secret, "cert"), one(files.key, files.key_secret, "key")
    )


def serial_of(cert_pem: str) -> str:
    from cryptography import x509

    return f"{x509.load_pem_x509_certificates(cert_pem.encode())[0].serial_number:x}"
